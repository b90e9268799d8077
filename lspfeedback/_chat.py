"""`ChatModel`: an OpenAI-compatible chat-completions endpoint as a loop ``generate``.

Plain HTTP over httpx (no vendor SDK): ``POST {base_url}/chat/completions`` with the model,
the messages and optionally a temperature; the answer's first choice is parsed into an edit
(SEARCH/REPLACE blocks or a unified diff, see `edit_from_answer`). An answer with no edit in
it raises `EditError`, which the loop turns into feedback for the next round; an HTTP failure
raises `ChatError`, which propagates.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from lspfeedback._exceptions import EditError, LspFeedbackError
from lspfeedback.edits._search_replace import has_search_replace
from lspfeedback.edits._unified_diff import has_unified_diff

if TYPE_CHECKING:
    from lspfeedback.loop import Feedback

__all__ = ["SYSTEM_PROMPT", "ChatError", "ChatModel", "edit_from_answer"]

SYSTEM_PROMPT = """\
You are a careful programmer editing a Python project. Answer with the edit only, as \
SEARCH/REPLACE blocks:

path/to/file.py
```python
<<<<<<< SEARCH
the exact lines to replace, copied from the file as it is now
=======
the new lines
>>>>>>> REPLACE
```

Use one block per change; the path is relative to the project root and stands on its own \
line just above the fence; SEARCH text must match the current file exactly (include enough \
lines to be unique); an empty SEARCH with a new path creates that file. A unified diff \
(```diff fenced, with ---/+++ headers and @@ hunks) is accepted too. After each edit you \
will get the type checker's and the linter's findings that your edit introduced, with the \
offending lines; fix them with a further edit."""
"""What the model is told about the edit format (the user's task follows it)."""

_DIFF_FENCE = re.compile(r"^```(?:diff|patch|udiff)[ \t]*\n(.*?)^```[ \t]*$",
                         re.DOTALL | re.MULTILINE)


class ChatError(LspFeedbackError):
    """The chat-completions endpoint gave no answer: a transport error, an HTTP error status,
    or a body without a message. ``status`` is the HTTP status (None without an answer)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"ChatError({self.message!r}, status={self.status!r})"


def edit_from_answer(answer: str) -> str:
    """The edit in a model's answer: the answer itself when it holds SEARCH/REPLACE blocks
    (their parser skips prose), the ```diff fenced blocks of a unified diff joined, or the
    answer when it is a bare diff. Raises `EditError`, worded for the model, when there is
    none."""
    if has_search_replace(answer):
        return answer
    fenced = _DIFF_FENCE.findall(answer)
    if fenced:
        return "".join(block if block.endswith("\n") else block + "\n" for block in fenced)
    if has_unified_diff(answer):
        return answer
    raise EditError(
        "Your answer contained no edit: no SEARCH/REPLACE block (a path line, then "
        "'<<<<<<< SEARCH', the old lines, '=======', the new lines, '>>>>>>> REPLACE') and no "
        "unified diff. Nothing was applied. Answer with the edit itself in one of those forms.")


class ChatModel:
    """An OpenAI-compatible chat model as the ``generate`` of `run_loop` / `arun_loop`.

    ``model(task, feedback)`` sends the system prompt, the task, and for every earlier round
    the edit the model answered and the loop's feedback (rebuilt from ``feedback.history()``:
    the client keeps no state), and returns the edit found in the answer. `agenerate` is the
    same over an async client, for `arun_loop` (whose candidates then run concurrently).

    ``base_url`` is the API root (``.../v1``); ``api_key`` is sent as a bearer token when
    given. ``transport`` / ``async_transport`` replace httpx's network transport (tests use
    ``httpx.MockTransport``).
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str = "https://api.openai.com/v1",
        api_key: str | None = None,
        system: str = SYSTEM_PROMPT,
        temperature: float | None = None,
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not model:
            raise ValueError("a model name is needed (e.g. ChatModel('gpt-4.1-mini'))")
        self.model = model
        self.base_url: str = base_url.rstrip("/")
        self.system = system
        self.temperature = temperature
        self.timeout = timeout
        self._api_key = api_key
        self._transport = transport
        self._async_transport = async_transport

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> ChatModel:
        """The model named by ``LSPFEEDBACK_MODEL`` (or ``OPENAI_MODEL``) at
        ``OPENAI_BASE_URL`` (default: OpenAI's), with the key in ``OPENAI_API_KEY`` (none is
        sent when it is unset: local servers). Keyword arguments go to the constructor.
        Raises `ValueError` when no model is named."""
        env = os.environ if environ is None else environ
        model = env.get("LSPFEEDBACK_MODEL") or env.get("OPENAI_MODEL")
        if not model:
            raise ValueError("set LSPFEEDBACK_MODEL or OPENAI_MODEL to the model's name "
                             "(and OPENAI_BASE_URL for a server other than OpenAI's)")
        base_url = env.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        return cls(model, base_url=base_url, api_key=env.get("OPENAI_API_KEY") or None, **kwargs)

    def __repr__(self) -> str:
        key = "set" if self._api_key else "none"
        return f"<ChatModel {self.model!r} at {self.base_url} key={key}>"

    def messages(self, task: str, feedback: Feedback | None) -> list[dict[str, str]]:
        """The conversation sent for this call: system, task, then per earlier round the
        model's edit (when it returned one) and the loop's feedback."""
        out = [{"role": "system", "content": self.system}, {"role": "user", "content": task}]
        for item in feedback.history() if feedback is not None else []:
            if isinstance(item.edit, str):
                out.append({"role": "assistant", "content": item.edit})
            out.append({"role": "user", "content": item.text})
        return out

    def __call__(self, task: str, feedback: Feedback | None) -> str:
        """Ask the model; the edit in its answer (`edit_from_answer`)."""
        with httpx.Client(transport=self._transport, timeout=self.timeout) as client:
            try:
                response = client.post(self._url(), json=self._body(task, feedback),
                                       headers=self._headers())
            except httpx.HTTPError as error:
                raise ChatError(f"POST {self._url()} failed: {error}") from error
        return edit_from_answer(self._answer(response))

    async def agenerate(self, task: str, feedback: Feedback | None) -> str:
        """`__call__` over an async client."""
        async with httpx.AsyncClient(transport=self._async_transport,
                                     timeout=self.timeout) as client:
            try:
                response = await client.post(self._url(), json=self._body(task, feedback),
                                             headers=self._headers())
            except httpx.HTTPError as error:
                raise ChatError(f"POST {self._url()} failed: {error}") from error
        return edit_from_answer(self._answer(response))

    def _url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def _body(self, task: str, feedback: Feedback | None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": self.messages(task, feedback)}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        return body

    def _answer(self, response: httpx.Response) -> str:
        if response.status_code >= 400:
            raise ChatError(f"{self._url()} answered {response.status_code}: "
                            f"{response.text[:500]}", status=response.status_code)
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ChatError(f"{self._url()} answered without a message: {response.text[:500]}",
                            status=response.status_code) from None
        if not isinstance(content, str):
            raise ChatError(f"{self._url()} answered with no text content",
                            status=response.status_code)
        return content
