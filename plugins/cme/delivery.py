"""Send written records to a body over HTTP, exactly once, and record its answers.

Only records of batches written for HTTP go (the ledger's `transport` on their
`written` events): a record written to a file batch counts as delivered by the
file drop, whatever the body's transport is later, unless that batch is
discarded (`cme batches discard`), which makes its records due again.

For every request: the ledger first gets `sending` for its records (write-ahead),
then the request goes, then the answers (`accepted`, `rejected` with the body's
message, or `sent` with a reference when the decision comes later). A record
whose latest event is `sending` is in doubt: a process died, or a request timed
out, possibly after the body took it. It is never re-sent blind: the body is
asked first (lookup by the record's natural fields), and only a record the body
does not hold goes again. Transient failures are retried here a few times with
backoff; after that the task fails and Airflow's own retries take over.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from cme.bodies.base import ReportingBody, load_fields
from cme.ledger import STATE, CrashPoints, LedgerRecord, append, check_state, ensure_ledger
from cme.settings import ProviderSettings
from cme.transport import Answer, Connection, TransientError, resolve_connection
from cme.warehouse import connect

log = logging.getLogger(__name__)
IN_TASK_ATTEMPTS = 4
_COUNTERS = {"accepted": "accepted", "rejected": "rejected", "sent": "awaiting_answer"}
BACKOFF_SECONDS = 0.2

# Records written for HTTP and not yet answered, with their latest state and reference in
# their batch (from the ledger-state view, cme.ledger.STATE) and their prepared payload.
# A ledger from before the channel was recorded marked every batch `file`: such records
# count as HTTP once they have an HTTP event.
OPEN_RECORDS_SQL = f"""
select batch_id, record_key, record_action, record_hash, state, body_reference as reference, payload
from {STATE}
where body = $body and is_prepared and (is_written_for_http or has_http_request)
  and state in ('written', 'sending', 'sent')
order by batch_id, record_action desc, record_key
"""


@dataclass
class DeliveryResult:
    body: str
    run_date: str
    transport: str
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    awaiting_answer: int = 0
    resolved_in_doubt: int = 0
    retries: int = 0
    messages: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Open:
    batch_id: str
    record: LedgerRecord
    state: str
    reference: str | None

    @property
    def payload(self) -> dict:
        return {**self.record.payload, "record_key": self.record.record_key}


def deliver_body(warehouse: Path, body: ReportingBody, run_date: date, settings: ProviderSettings,
                 conn: Connection | None = None, timeout: float = 2.0) -> DeliveryResult:
    transport = settings.transport.get(body.name, "file")
    result = DeliveryResult(body.name, run_date.isoformat(), transport)
    if transport != "http":
        return result  # the file drop is the delivery
    conn = conn or resolve_connection(body.name)
    crash = CrashPoints()
    with connect(Path(warehouse)) as con:
        ensure_ledger(con)
        client = body.client(conn, load_fields(con, body.name), settings, timeout)
        check_state(con)
        open_records = [
            _Open(batch, LedgerRecord(key, action, hash_, json.loads(payload)), state, ref)
            for batch, key, action, hash_, state, ref, payload
            in con.execute(OPEN_RECORDS_SQL, {"body": body.name}).fetchall()]

        def record_answers(items: list[_Open], answers: dict[str, Answer]) -> None:
            for state in ("accepted", "rejected", "sent"):
                chosen = [i for i in items if i.record.record_key in answers
                          and answers[i.record.record_key].state == state]
                for batch in {i.batch_id for i in chosen}:
                    group = [i for i in chosen if i.batch_id == batch]
                    append(con, batch_id=batch, body=body.name, event=state, run_date=run_date,
                           records=[i.record for i in group], transport="http",
                           messages={i.record.record_key: answers[i.record.record_key].message for i in group},
                           references={i.record.record_key: answers[i.record.record_key].reference
                                       for i in group if answers[i.record.record_key].reference})
                if chosen:
                    crash.check("after_answers")
                counter = _COUNTERS[state]
                setattr(result, counter, getattr(result, counter) + len(chosen))
                for i in chosen:
                    message = answers[i.record.record_key].message
                    if message:
                        result.messages[message] = result.messages.get(message, 0) + 1

        def lookup_all(items: list[_Open]) -> list[_Open]:
            """Ask the body about records in doubt, one by one, recording each answer at once;
            return those it does not hold."""
            missing = []
            for item in items:
                answer = _retrying(lambda: client.lookup(item.payload), result)  # noqa: B023 - called at once
                if answer:
                    record_answers([item], {item.record.record_key: answer})
                    result.resolved_in_doubt += 1
                else:
                    missing.append(item)
            return missing

        # 1. decisions that were still to come (a body that answers later, within a day)
        for item in [i for i in open_records if i.state == "sent" and i.reference]:
            answer = _retrying(lambda: client.poll(item.reference), result)  # noqa: B023 - called at once
            if answer:
                record_answers([item], {item.record.record_key: answer})
        # 2. records in doubt are looked up before anything is sent again
        to_send = [i for i in open_records if i.state == "written"]
        to_send += lookup_all([i for i in open_records if i.state == "sending"])
        # 3. send: `request_size` records per request (None: all of them in one)
        size = body.request_size or max(len(to_send), 1)
        chunks = [to_send[start:start + size] for start in range(0, len(to_send), size)]
        for chunk in chunks:
            for batch in {i.batch_id for i in chunk}:
                append(con, batch_id=batch, body=body.name, event="sending", run_date=run_date,
                       records=[i.record for i in chunk if i.batch_id == batch], transport="http")
            remaining = chunk
            for attempt in range(IN_TASK_ATTEMPTS):
                crash.requests += 1
                crash.check("before_send", crash.requests)
                try:
                    answers = client.send([i.payload for i in remaining])
                except TransientError as exc:
                    log.warning("%s: %s (attempt %d)", body.name, exc, attempt + 1)
                    result.retries += 1
                    time.sleep(BACKOFF_SECONDS * 2 ** attempt)
                    remaining = lookup_all(remaining)
                    if not remaining:
                        break
                    continue
                crash.check("after_send", crash.requests)
                record_answers(remaining, answers)
                result.sent += len(remaining)
                remaining = []
                break
            if remaining:
                raise TransientError(f"{body.name}: {len(remaining)} record(s) still in doubt after "
                                     f"{IN_TASK_ATTEMPTS} attempts; the task's retry will resume them")
    log.info("deliver %s %s: sent %d, accepted %d, rejected %d, awaiting %d, in doubt resolved %d",
             body.name, run_date, result.sent, result.accepted, result.rejected,
             result.awaiting_answer, result.resolved_in_doubt)
    return result


def _retrying(call, result: DeliveryResult):
    """Lookups can hit transient failures too: retry them with the same bounded backoff."""
    for attempt in range(IN_TASK_ATTEMPTS):
        try:
            return call()
        except TransientError:
            result.retries += 1
            time.sleep(BACKOFF_SECONDS * 2 ** attempt)
    return call()
