"""The runtime: workflows of steps and loops run on the core, through a store.

`definitions` (steps and loops), `calls` (user code), `driver` (the sans-IO plan of a run,
dispatched on the core's actions), `handles` (run outputs and requirements), `workflow` (the
synchronous and asyncio shells around the driver), `stream` (events), `worker` and `aworker`
(executing runs from a shared store).
"""
