"""The core: the gate machine and the run record, with no I/O at all.

States, events, policies, the literal transition table (`table`), the frozen records
(`record`), `step` (`machine`), the actions a caller must take next (`actions`), the pure
changes to a run (`runs`), the wire format (`codec`) and the error tree (`errors`). Nothing
here opens a file or a socket, reads a clock, starts a thread or logs: the caller brings the
time, the storage and the humans.
"""
