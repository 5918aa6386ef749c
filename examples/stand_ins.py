"""Deterministic stand-ins for what the seed examples use but do not define.

The seed page calls an LLM agent (`Agent(model=OpenAIChat(...))`) and helper functions it
never shows (`prepare_data`, `finalize_results`, ...). There is no network here, so these
small, predictable objects take their place; the examples import them and are otherwise the
seed's code with only the imports and the store line changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from statemachine import StepInput, StepOutput


@dataclass
class OpenAIChat:
    """Stands in for a chat model: only its id is kept."""

    id: str


@dataclass
class OpenAIResponses(OpenAIChat):
    """Stands in for the peer framework's Responses-API model: only its id is kept."""


@dataclass
class RunResponse:
    """What `Agent.run` returns: like an agent framework's response, it has `.content`."""

    content: str


class Agent:
    """An 'agent' that edits text by rule instead of by model, so runs are reproducible.

    Reviewer feedback (appended to the message by the workflow after a rejection) is obeyed
    for a few words: "shorter" halves the text, "formal" and "friendly" change its tone.
    Options a real agent takes (tools, markdown, description...) are accepted and unused.
    """

    def __init__(
        self,
        name: str = "agent",
        model: OpenAIChat | None = None,
        instructions: str | list[str] = "",
        **options: object,
    ) -> None:
        self.name, self.model, self.instructions, self.options = name, model, instructions, options

    def run(self, message: str) -> RunResponse:
        text, _, feedback = message.partition("\n\nReviewer feedback on the previous attempt: ")
        text = text.removeprefix("Refined: ")
        feedback = feedback.lower()
        if "shorter" in feedback:
            words = text.split()
            text = " ".join(words[: max(3, len(words) // 2)])
        if "formal" in feedback:
            text = text.replace("Hi team!", "Dear team,").replace("!", ".")
        if "friendly" in feedback:
            text = text.rstrip(".") + "!"
        return RunResponse(content=f"Refined: {text}")

    async def arun(self, message: str) -> RunResponse:
        """`run`, awaited: what an asyncio workflow calls on an agent that has it."""
        return self.run(message)


def prepare_data(step_input: StepInput) -> StepOutput:
    """Normalise the workflow input."""
    return StepOutput(content=f"Prepared: {str(step_input.input).strip()}")


def finalize_results(step_input: StepInput) -> StepOutput:
    """Report what the previous step produced."""
    return StepOutput(content=f"Final report based on: {step_input.previous_step_content}")


def improve_quality(step_input: StepInput) -> StepOutput:
    """One pass of improvement, numbered by the loop iteration."""
    return StepOutput(content=f"Quality pass {step_input.iteration} on {step_input.input}")


def generate_fn(step_input: StepInput) -> StepOutput:
    """Generate a draft for review; feedback from a rejection shows in the next draft."""
    feedback = step_input.additional_data.get("rejection_feedback")
    note = f" (revised after: {feedback})" if feedback else ""
    return StepOutput(content=f"Draft {step_input.iteration} of {step_input.input}{note}")
