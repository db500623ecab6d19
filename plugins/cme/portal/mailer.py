"""Sending the link by SMTP (plain smtplib). The address and the link are never logged."""
from __future__ import annotations

import os
import smtplib
from email.message import EmailMessage

PASSWORD_ENV = "CME_SMTP_PASSWORD"


def link_message(settings, to: str, link: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.smtp_sender
    msg["To"] = to
    msg["Subject"] = f"Your continuing education records from {settings.provider_name}"
    msg.set_content(
        f"You asked for your continuing education records from {settings.provider_name}.\n\n"
        f"Open this link within {settings.portal_link_minutes} minutes. It works once:\n\n"
        f"{link}\n\n"
        "If you did not ask for it, ignore this message: nobody can use the link without "
        "this mailbox.\n")
    return msg


def send(settings, msg: EmailMessage) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port,
                      timeout=settings.http_timeout_seconds) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, os.environ.get(PASSWORD_ENV, ""))
        smtp.send_message(msg)
