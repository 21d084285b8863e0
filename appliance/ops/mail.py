"""Sending the outbox: a thread in the serve process delivers each queued mail after the
transaction that queued it committed, over SMTP (STARTTLS, TLS or plain, with a login
whose password is read from its own file), and retries a failure with a growing wait.
What failed, and the SMTP server's answer, stays on the row for the dashboard.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import socket
import ssl
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path

from appliance.storage import store as q
from appliance.storage.store import Store, now

log = logging.getLogger(__name__)

# 30 s, 1, 2, 4 ... minutes, at most an hour apart; given up (shown as failed) after
# twelve tries, about seven hours.
RETRY_FIRST_SECONDS = 30
RETRY_MAX_SECONDS = 3600
MAX_ATTEMPTS = 12
BATCH = 20


class MailSetupError(RuntimeError):
    """The mail settings cannot work (the password file is missing, say)."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    user: str
    password_file: str
    mail_from: str
    store_name: str
    timeout: float = 20.0

    @classmethod
    def from_settings(cls, settings) -> "SmtpSettings | None":
        if not settings.smtp_host:
            return None
        return cls(settings.smtp_host, settings.smtp_port, settings.smtp_security, settings.smtp_user,
                   settings.smtp_password_file, settings.mail_from, settings.store_name)

    def password(self) -> str:
        try:
            return Path(self.password_file).read_text().strip()
        except OSError as exc:
            raise MailSetupError(f"cannot read smtp_password_file {self.password_file}: {exc.strerror}") from None


def status(store: Store, smtp: SmtpSettings | None) -> dict:
    """For the dashboard: whether mail is on, and the mails that are failing."""
    troubled = store.query(q.TROUBLED_MAILS) if smtp else []
    return {"on": smtp is not None, "troubled": troubled,
            "failed": sum(1 for m in troubled if m["status"] == "failed"),
            "retrying": sum(1 for m in troubled if m["status"] == "pending")}


def retry_now(store: Store) -> int:
    """Put every failing or given-up mail back at the front of the queue."""
    with store.write() as db:
        return db.execute(q.RETRY_MAILS_NOW, {"now": now()}).rowcount


def _message(smtp: SmtpSettings, row: dict) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((smtp.store_name, smtp.mail_from))
    message["To"] = row["to_address"]
    message["Subject"] = row["subject"]
    message["Message-ID"] = make_msgid(idstring=f"diamra-{row['id']}", domain=smtp.mail_from.rsplit("@", 1)[1])
    message["Date"] = datetime.now(timezone.utc)
    message.set_content(row["text_body"])
    message.add_alternative(row["html_body"], subtype="html")
    return message


def _connect(smtp: SmtpSettings) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if smtp.security == "tls":
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        if smtp.security == "starttls":
            client.starttls(context=context)
    if smtp.user:
        client.login(smtp.user, smtp.password())
    return client


def _answer(exc: BaseException) -> str:
    """The SMTP server's own answer where there is one, else what went wrong."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
        return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {text}"
    if isinstance(exc, (ConnectionRefusedError, socket.timeout, TimeoutError)):
        return f"cannot reach the mail server: {exc}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc}"
    return str(exc) or type(exc).__name__


def _retry_at(attempts: int, moment: datetime, first: float) -> str:
    wait = min(first * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS)
    return (moment + timedelta(seconds=wait)).isoformat(timespec="microseconds")


def send_due(store: Store, smtp: SmtpSettings, *, retry_first_seconds: float = RETRY_FIRST_SECONDS) -> tuple[int, int]:
    """Deliver the mails that are due; returns (sent, failed this time)."""
    rows = store.query(q.DUE_MAILS, {"now": now(), "limit": BATCH})
    if not rows:
        return 0, 0
    sent = failed = 0
    client = None
    try:
        client = _connect(smtp)
    except Exception as exc:  # the whole batch waits for the next try, each row noting why
        answer = _answer(exc)
        log.warning("mail: cannot connect to %s:%d: %s", smtp.host, smtp.port, answer)
        _failed(store, rows, answer, retry_first_seconds)
        return 0, len(rows)
    try:
        for row in rows:
            try:
                client.send_message(_message(smtp, row))
            except (smtplib.SMTPException, OSError) as exc:
                answer = _answer(exc)
                log.warning("mail %d to %s not sent: %s", row["id"], _masked(row["to_address"]), answer)
                _failed(store, [row], answer, retry_first_seconds)
                failed += 1
                if isinstance(exc, (smtplib.SMTPServerDisconnected, OSError)):
                    break            # the connection is gone; the rest wait for the next round
                continue
            with store.write() as db:
                db.execute(q.MAIL_SENT, {"id": row["id"], "now": now()})
            sent += 1
            log.info("mail %d (%s) sent to %s", row["id"], row["kind"], _masked(row["to_address"]))
    finally:
        # A server that already hung up has nothing to say goodbye to.
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()
    return sent, failed


def _failed(store: Store, rows: list[dict], answer: str, retry_first_seconds: float) -> None:
    moment = datetime.now(timezone.utc)
    with store.write() as db:
        for row in rows:
            db.execute(q.MAIL_RETRY, {"id": row["id"], "error": answer[:500], "max_attempts": MAX_ATTEMPTS,
                                      "next_attempt_at": _retry_at(row["attempts"] + 1, moment, retry_first_seconds)})


def _masked(address: str) -> str:
    """An address in the log: enough to tell mails apart, not the customer's whole address."""
    local, _, domain = address.partition("@")
    return f"{local[:2]}…@{domain}"


class MailSender:
    """The thread that sends the outbox: every few seconds, and at once when woken after
    a commit that queued mail."""

    def __init__(self, store: Store, smtp: SmtpSettings, *, every_seconds: float = 5.0,
                 retry_first_seconds: float = RETRY_FIRST_SECONDS):
        self.store = store
        self.smtp = smtp
        self.every_seconds = every_seconds
        self.retry_first_seconds = retry_first_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="diamra-mail", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.every_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                send_due(self.store, self.smtp, retry_first_seconds=self.retry_first_seconds)
            except Exception:  # a bug here must not stop the shop; the rows stay queued
                log.exception("mail sender round failed")
