"""The one LLM client of the project: any OpenAI-compatible chat-completions API.

`get_llm_client()` is None unless `LLM_BASE_URL` is set, so every caller has a path without an LLM.
Every call is charged to a tenant: calls and prompt/completion tokens are counted in Redis under
`llm:usage:{<tenant_id>}` (hashes `...:totals` and `...:by_purpose`), read back by `llm_usage(tenant)`.
Timeouts and bounded retries with backoff come from the openai client (`LLM_TIMEOUT`,
`LLM_MAX_RETRIES`); the API key never appears in logs or errors raised from here.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from . import redis_names
from .redis import get_redis

logger = logging.getLogger(__name__)


def answer_json(text: str) -> Any | None:
    """The JSON object of a model's answer: inside a ```json fence if there is one, and cut from its
    first `{` to its last `}` when the answer does not start with one; None when there is none."""
    if not text:
        return None
    body = text.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", body, re.S)
    if fence:
        body = fence.group(1).strip()
    if not body.startswith("{"):
        start, end = body.find("{"), body.rfind("}")
        if start < 0 or end <= start:
            return None
        body = body[start : end + 1]
    try:
        return json.loads(body)
    except ValueError:
        return None


class LLMError(RuntimeError):
    """The LLM call failed (after the client's own retries) or returned nothing usable."""


@dataclass(frozen=True)
class LLMReply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str = ""


def _usage_keys(tenant) -> tuple[str, str]:
    return redis_names.llm_usage_totals(tenant), redis_names.llm_usage_by_purpose(tenant)


def record_usage(
    tenant, purpose: str, *, prompt_tokens: int = 0, completion_tokens: int = 0, error: bool = False
) -> None:
    """Count one call for `tenant` (best effort: a Redis outage never breaks the caller)."""
    totals, by_purpose = _usage_keys(tenant)
    purpose = (purpose or "other").replace(":", "_")[:64]
    try:
        pipe = get_redis().pipeline(transaction=True)
        pipe.hincrby(totals, "calls", 1)
        pipe.hincrby(totals, "prompt_tokens", int(prompt_tokens))
        pipe.hincrby(totals, "completion_tokens", int(completion_tokens))
        pipe.hincrby(by_purpose, f"{purpose}:calls", 1)
        pipe.hincrby(by_purpose, f"{purpose}:prompt_tokens", int(prompt_tokens))
        pipe.hincrby(by_purpose, f"{purpose}:completion_tokens", int(completion_tokens))
        if error:
            pipe.hincrby(totals, "errors", 1)
            pipe.hincrby(by_purpose, f"{purpose}:errors", 1)
        pipe.execute()
    except Exception:  # noqa: BLE001
        logger.warning("LLM usage not recorded for tenant %s", getattr(tenant, "tenant_id", tenant), exc_info=True)


def llm_usage(tenant) -> dict[str, Any]:
    """`{"calls", "prompt_tokens", "completion_tokens", "errors", "by_purpose": {purpose: {...}}}`."""
    totals_key, purpose_key = _usage_keys(tenant)
    r = get_redis()
    totals = r.hgetall(totals_key)
    by_purpose: dict[str, dict[str, int]] = {}
    for field, value in r.hgetall(purpose_key).items():
        purpose, _, counter = field.rpartition(":")
        by_purpose.setdefault(purpose, {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "errors": 0})
        by_purpose[purpose][counter] = int(value)
    return {
        "calls": int(totals.get("calls", 0)),
        "prompt_tokens": int(totals.get("prompt_tokens", 0)),
        "completion_tokens": int(totals.get("completion_tokens", 0)),
        "errors": int(totals.get("errors", 0)),
        "by_purpose": by_purpose,
    }


class LLMClient:
    """A thin wrapper over `openai.OpenAI` that counts usage per tenant."""

    def __init__(self, *, base_url: str, api_key: str, model: str, timeout: float, max_retries: int):
        import openai

        self.model = model
        self._openai = openai
        # A local server needs no key, but the client insists on one.
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout, max_retries=max_retries
        )

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        tenant,
        purpose: str,
        max_tokens: int = 800,
        temperature: float = 0.0,
        json_mode: bool = False,
    ) -> LLMReply:
        """One chat completion, charged to `tenant` under `purpose`. Raises LLMError on failure."""
        if tenant is None:
            raise LLMError("an LLM call must be charged to a tenant")
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        try:
            try:
                response = self._client.chat.completions.create(**kwargs)
            except self._openai.BadRequestError:
                if not json_mode:
                    raise
                # Some compatible servers do not know response_format: ask again without it.
                kwargs.pop("response_format", None)
                response = self._client.chat.completions.create(**kwargs)
        except self._openai.OpenAIError as exc:
            record_usage(tenant, purpose, error=True)
            raise LLMError(f"LLM call failed: {type(exc).__name__}") from None
        usage = getattr(response, "usage", None)
        choices = getattr(response, "choices", None) or []
        text = ""
        if choices and getattr(choices[0], "message", None) is not None:
            text = choices[0].message.content or ""
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        if usage is None:  # a server that does not report usage: estimate (about 4 characters a token)
            prompt_tokens = sum(len(m.get("content", "")) for m in messages) // 4
            completion_tokens = len(text) // 4
        record_usage(tenant, purpose, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, error=not text)
        if not text:
            raise LLMError("the LLM returned an empty answer")
        return LLMReply(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            model=getattr(response, "model", "") or self.model,
        )


def get_llm_client() -> LLMClient | None:
    """The configured client, or None when `LLM_BASE_URL` is unset."""
    base_url = getattr(settings, "LLM_BASE_URL", "")
    if not base_url:
        return None
    return LLMClient(
        base_url=base_url,
        api_key=getattr(settings, "LLM_API_KEY", ""),
        model=getattr(settings, "LLM_MODEL", "gpt-4o-mini"),
        timeout=float(getattr(settings, "LLM_TIMEOUT", 20.0)),
        max_retries=int(getattr(settings, "LLM_MAX_RETRIES", 2)),
    )
