"""A provider account for suppression-removal tests of the domain and the pages: it records what it
was asked and answers as told. The real adapters (SendGrid, Postmark, the sandbox) are tested over
HTTP against the fake provider server."""

from __future__ import annotations

from datetime import timedelta

from commlog.providers.base import Provider, RemovalAnswer


class RecordingProvider(Provider):
    name = "sendgrid"
    label = "SendGrid"
    retention = timedelta(days=30)

    def __init__(self, answers: list | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.answers = answers or []

    def fetch_events(self, message):  # not asked in these tests
        raise NotImplementedError

    def can_remove(self, list_key: str) -> bool:
        return list_key in ("bounces", "blocks", "invalid_emails")

    def remove_suppression(self, email: str, list_key: str) -> RemovalAnswer:
        self.calls.append((email, list_key))
        answer = self.answers.pop(0) if self.answers else RemovalAnswer(True, words=f"SendGrid removed it from the {list_key} list.")
        if isinstance(answer, Exception):
            raise answer
        return answer
