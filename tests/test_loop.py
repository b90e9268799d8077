"""The generate → check → regenerate loop, with scripted models, on real servers (pyright + ruff
on a copy of fixtures/shop), and the chat client over httpx.MockTransport (no network)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import pytest

from lspfeedback import AsyncVerifier, Changes, EditError, Verifier
from lspfeedback.loop import (
    ChatError,
    ChatModel,
    Feedback,
    LoopResult,
    arun_loop,
    edit_from_answer,
    run_loop,
)

from .conftest import TIMEOUT, fake

TASK = "Let apply_discount take the currency of the price."
BREAK = """shop/pricing.py
<<<<<<< SEARCH
def apply_discount(price_cents: int, percent: int) -> int:
=======
def apply_discount(price_cents: int, percent: int, currency: str) -> int:
>>>>>>> REPLACE
"""
FIX_CALLER = """shop/cart.py
<<<<<<< SEARCH
        return apply_discount(self.subtotal(), self.discount_percent)
=======
        return apply_discount(self.subtotal(), self.discount_percent, "USD")
>>>>>>> REPLACE
"""
GOOD = BREAK.replace("currency: str)", 'currency: str = "USD")')
RENAME = BREAK.replace("def apply_discount(price_cents: int, percent: int, currency: str)",
                       "def discount(price_cents: int, percent: int)")
MISSING = """shop/cart.py
<<<<<<< SEARCH
    def grand_total(self, currency: str) -> int:
=======
    def grand_total(self, currency: str = "USD") -> int:
>>>>>>> REPLACE
"""


class Script:
    """A scripted model: round n gets the n-th list of edits, one per call; records feedback."""

    def __init__(self, rounds: Sequence[Sequence[Changes | Exception]]) -> None:
        self.rounds = [list(r) for r in rounds]
        self.feedback: list[Feedback | None] = []

    def __call__(self, task: str, feedback: Feedback | None) -> Changes:
        assert task == TASK
        number = 0 if feedback is None else feedback.round
        if not self.feedback or self.feedback[-1] is not feedback:
            self.feedback.append(feedback)
        edit = self.rounds[number].pop(0)
        if isinstance(edit, Exception):
            raise edit
        return edit


def verifier(root: Path, **kwargs: object) -> Verifier:
    return Verifier(root, timeout=TIMEOUT, **kwargs)  # type: ignore[arg-type]


def test_two_rounds_the_feedback_names_the_broken_caller_and_the_fix_passes(shop: Path) -> None:
    model = Script([[BREAK], [FIX_CALLER]])
    with verifier(shop) as v:
        result = run_loop(v, TASK, model, rounds=3)
        overlays = v.overlays

    assert isinstance(result, LoopResult) and result.ok and len(result.rounds) == 2
    first, second = result.rounds
    assert not first.ok and second.ok
    # The feedback the model got names the importer's line, with its source text.
    given = model.feedback[1]
    assert given is not None and given is first.feedback and given.kept
    assert "shop/cart.py:27:" in given.text and "currency" in given.text
    assert "return apply_discount(self.subtotal(), self.discount_percent)" in given.text
    first_report = first.attempts[0].report
    assert first_report is not None
    assert [d.path for d in first_report.introduced if d.severity == "error"] == ["shop/cart.py"]
    # Round 2 applied on top of round 1 and is judged against the start: both files changed.
    assert result.final_edit is not None and sorted(result.final_edit) == ["shop/cart.py",
                                                                           "shop/pricing.py"]
    assert "currency: str) -> int" in (result.final_edit["shop/pricing.py"] or "")
    assert '"USD")' in (result.final_edit["shop/cart.py"] or "")
    # The accepted edit is the verifier's overlay; nothing was written to disk.
    assert result.applied and overlays == dict(result.final_edit)
    assert "currency" not in (shop / "shop/pricing.py").read_text()
    assert result.rounds[1].feedback.report is not None and result.report is not None
    assert result.report.ok and not result.report.introduced


def test_candidates_the_good_one_wins(shop: Path) -> None:
    model = Script([[BREAK, GOOD, RENAME]])
    with verifier(shop, replicas=2) as v:
        result = run_loop(v, TASK, model, rounds=3, candidates=3)
        overlays = v.overlays

    assert result.ok and len(result.rounds) == 1
    [round_] = result.rounds
    assert [a.index for a in round_.attempts] == [0, 1, 2]
    best = round_.best
    assert best is not None and best.index == 1 and best.rank == 1 and best.ok
    assert sorted(a.rank or 0 for a in round_.attempts) == [1, 2, 3]
    assert all(not a.ok for a in round_.attempts if a.index != 1)
    assert result.final_edit is not None
    assert 'currency: str = "USD"' in (result.final_edit["shop/pricing.py"] or "")
    assert overlays == dict(result.final_edit)


def test_an_edit_that_does_not_apply_is_feedback_and_the_next_round_works(shop: Path) -> None:
    model = Script([[MISSING], [GOOD]])
    with verifier(shop) as v:
        result = run_loop(v, TASK, model, rounds=3)

    assert result.ok and len(result.rounds) == 2
    failed = result.rounds[0].attempts[0]
    assert failed.report is None and failed.changes is None and failed.rank is None
    assert failed.error is not None and "shop/cart.py" in failed.error
    assert result.rounds[0].verify_ms == 0 and result.rounds[0].best is None
    given = model.feedback[1]
    assert given is not None and not given.kept and given.report is None
    # The model is told what the apply error says (which file, the closest text), verbatim.
    assert failed.error in given.text and "could not be applied" in given.text
    assert "closest text" in given.text


def test_chat_model_answer_without_an_edit_becomes_feedback(shop: Path) -> None:
    answers = ["I would add a currency parameter.", "Here it is:\n\n" + GOOD]
    requests: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(json.loads(request.content))
        content = answers[len(requests) - 1]
        return httpx.Response(200, json={"choices": [{"message": {"role": "assistant",
                                                                  "content": content}}]})

    model = ChatModel("scripted", base_url="http://model.test/v1",
                      transport=httpx.MockTransport(handler))
    with verifier(shop) as v:
        result = run_loop(v, TASK, model, rounds=2)

    assert result.ok and len(result.rounds) == 2
    assert result.rounds[0].attempts[0].edit is None
    assert "no edit" in (result.rounds[0].attempts[0].error or "")
    second = requests[1]["messages"]
    assert isinstance(second, list)
    assert second[-1]["role"] == "user" and "no edit" in second[-1]["content"]


def test_rounds_exhausted_is_not_ok_and_every_round_is_recorded(shop: Path) -> None:
    bad = [BREAK, BREAK.replace("currency: str", "currency: bytes")]
    model = Script([[bad[0]], [bad[1]]])
    with verifier(shop) as v:
        result = run_loop(v, TASK, model, rounds=2, carry=False)
        overlays = v.overlays

    assert not result.ok and result.final_edit is None and not result.applied
    assert [r.number for r in result.rounds] == [1, 2]
    for round_, edit in zip(result.rounds, bad, strict=True):
        attempt = round_.attempts[0]
        assert attempt.edit == edit and attempt.report is not None and not attempt.ok
        assert "shop/cart.py:27:" in round_.feedback.text
        assert round_.verify_ms > 0 and not round_.feedback.kept
    # Not carried: the second round's feedback says the files are as before.
    assert "not kept" in result.rounds[0].feedback.text
    # The last round's feedback is recorded too, but it asks for nothing more.
    assert "Send" not in result.rounds[-1].feedback.text
    assert overlays == {}


def test_unknown_status_is_never_ok(shop: Path) -> None:
    edit = {"shop/cart.py": (shop / "shop/cart.py").read_text() + "\nx = 1\n"}
    model = Script([[edit], [edit]])
    with Verifier(shop, servers=[fake("hang")], timeout=1.0) as v:
        result = run_loop(v, TASK, model, rounds=2)
        overlays = v.overlays

    assert not result.ok and len(result.rounds) == 2 and not result.applied
    for round_ in result.rounds:
        report = round_.attempts[0].report
        assert report is not None and report.status == "unknown" and not round_.ok
        text = round_.feedback.text
        assert "unknown" in text and "fake" in text and "no errors" not in text
    assert overlays == {}


def test_async_loop_with_an_async_model_and_concurrent_candidates(shop: Path) -> None:
    text = (shop / "shop/cart.py").read_text()
    broken = {"shop/cart.py": text.replace("def add(self,", "def add(self")}
    fine = {"shop/cart.py": text.replace("quantity: int = 1\n", "quantity: int = 2\n", 1)}
    calls: list[int] = []

    async def model(task: str, feedback: Feedback | None) -> Changes:
        calls.append(0 if feedback is None else feedback.round)
        number = len(calls)
        await asyncio.sleep(0)  # yield: the round's candidates are generated concurrently
        return fine if number == 3 else broken

    async def main() -> LoopResult:
        async with AsyncVerifier(shop, servers=("ruff",), timeout=TIMEOUT) as v:
            result = await arun_loop(v, TASK, model, rounds=3, candidates=2)
            assert v.overlays == (dict(result.final_edit) if result.final_edit else {})
            return result

    result = asyncio.run(main())
    assert calls == [0, 0, 1, 1]
    assert result.ok and len(result.rounds) == 2
    assert result.rounds[1].best is not None and result.rounds[1].best.index == 0
    assert not result.rounds[0].ok and "error" in result.rounds[0].feedback.text


def test_run_loop_rejects_an_async_model_and_bad_counts(shop: Path) -> None:
    async def model(task: str, feedback: Feedback | None) -> Changes:
        return {}

    with verifier(shop, servers=("ruff",)) as v:
        with pytest.raises(TypeError, match="arun_loop"):
            run_loop(v, TASK, model)
        with pytest.raises(ValueError, match="at least 1"):
            run_loop(v, TASK, model, rounds=0)


# ---- the chat client alone ---------------------------------------------------------------------


def chat(handler: Callable[[httpx.Request], httpx.Response], **kwargs: object) -> ChatModel:
    return ChatModel("m1", base_url="http://model.test/v1/", transport=httpx.MockTransport(handler),
                     **kwargs)  # type: ignore[arg-type]


def answer(content: str) -> httpx.Response:
    return httpx.Response(200, json={"choices": [{"message": {"content": content}}]})


def test_chat_request_carries_model_key_task_and_history() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer("Sure.\n\n" + GOOD + "\nThat adds a default.")

    model = ChatModel.from_env({"OPENAI_BASE_URL": "http://model.test/v1", "LSPFEEDBACK_MODEL": "m1",
                                "OPENAI_MODEL": "other", "OPENAI_API_KEY": "k"},
                               transport=httpx.MockTransport(handler), temperature=0.0)
    first = Feedback(1, "round 1 said X", BREAK, True, None)
    second = Feedback(2, "round 2 said Y", None, False, None, previous=first)
    edit = model(TASK, second)

    assert "<<<<<<< SEARCH" in edit and "m1" in repr(model)
    [request] = seen
    assert str(request.url) == "http://model.test/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer k"
    body = json.loads(request.content)
    assert body["model"] == "m1" and body["temperature"] == 0.0
    roles = [(m["role"], m["content"]) for m in body["messages"]]
    assert roles[0][0] == "system" and "SEARCH" in roles[0][1]
    assert roles[1:] == [("user", TASK), ("assistant", BREAK), ("user", "round 1 said X"),
                         ("user", "round 2 said Y")]


def test_chat_errors_and_answers_without_an_edit() -> None:
    with pytest.raises(ChatError) as failed:
        chat(lambda r: httpx.Response(500, text="overloaded"))(TASK, None)
    assert failed.value.status == 500 and "overloaded" in str(failed.value)
    with pytest.raises(ChatError, match="without a message"):
        chat(lambda r: httpx.Response(200, json={"choices": []}))(TASK, None)
    with pytest.raises(EditError, match="no edit"):
        chat(lambda r: answer("I cannot do that."))(TASK, None)
    no_key = chat(lambda r: answer(GOOD) if "authorization" not in r.headers else answer(""))
    assert no_key(TASK, None) == GOOD
    with pytest.raises(ValueError, match="LSPFEEDBACK_MODEL"):
        ChatModel.from_env({})


def test_chat_async_and_diff_answers() -> None:
    diff = "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n"

    async def handler(request: httpx.Request) -> httpx.Response:
        return answer(f"The change:\n```diff\n{diff}```\nDone.")

    model = ChatModel("m1", base_url="http://model.test/v1",
                      async_transport=httpx.MockTransport(handler))
    assert asyncio.run(model.agenerate(TASK, None)) == diff
    assert edit_from_answer(diff) == diff
