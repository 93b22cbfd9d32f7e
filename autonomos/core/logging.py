"""Log filter that keeps secrets out of logs, whatever code logged them."""

import logging
import re

_SECRET_PATTERNS = [
    re.compile(r"(?i)(\"?(?:password|secret|token|api_key|apikey|client_secret|access_token|refresh_token|authorization)\"?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,}]+)"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*"),
    re.compile(r"(postgres(?:ql)?://[^:/\s]+:)([^@\s]+)(@)"),
]


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        if pattern.groups >= 3:
            text = pattern.sub(r"\1***\3", text)
        else:
            text = pattern.sub(r"\1***", text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logger's problem, not ours
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True
