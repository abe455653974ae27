"""The consumer loop shared by every worker. Boring on purpose:

    join the group; drain our own pending entries; then, until stopped:
        claim what is stale, read a batch, handle it, XADD what it produced and XACK it (one MULTI),
        dead-letter what is invalid or has been delivered max_deliveries times.

Ack only after the handler committed its side effect. A TransientError (dependency down) keeps the
batch in hand and retries it with backoff; it never counts toward dead-lettering. Any other failure
leaves the entry pending: Redis counts its deliveries, and the reclaimer brings it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import ParamSpec, Protocol, TypeVar

import structlog

from reflex_common.cancellation import raise_dropped_cancellation
from reflex_common.errors import GroupMissing, InvalidMessage, TransientError
from reflex_common.settings import WorkerSettings
from reflex_common.streams.breaker import DeadLetterBreaker
from reflex_common.streams.consumer_metrics import ConsumerMetrics
from reflex_common.streams.group import GroupStream
from reflex_common.streams.ports import DeadLetter, DlqReason, Entry, Outgoing, StreamPort

T = TypeVar("T")
P = ParamSpec("P")


@dataclass
class Outcome:
    """What the handler did with a batch. Ids it does not name are treated as failed."""

    done: list[str] = field(default_factory=list)
    forward: list[Outgoing] = field(default_factory=list)
    invalid: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    # The exception class behind an invalid or failed id, where one was raised.
    error_classes: dict[str, str] = field(default_factory=dict)

    def merge(self, other: Outcome) -> None:
        self.done += other.done
        self.forward += other.forward
        self.invalid.update(other.invalid)
        self.failed.update(other.failed)
        self.error_classes.update(other.error_classes)


class Handler(Protocol):
    async def handle(self, entries: Sequence[Entry]) -> Outcome:
        """Commit the side effect of every entry it reports done; raise TransientError to retry all."""


class Backpressure(Protocol):
    async def is_full(self) -> bool:
        """True while a downstream stream holds too many unread entries to accept more."""


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    stream: str
    group: str
    consumer: str
    dlq_stream: str
    trimmed_counter_key: str
    # High-water mark of entries trimmed before the group read them (see StreamGauges).
    trimmed_unread_key: str = ""
    batch_size: int = 500
    max_in_flight: int = 1000
    block_ms: int = 2000
    # After a read that came back with fewer entries than asked for, the next read waits this long:
    # under a steady flow the entries accumulate into fuller batches (fewer round trips and
    # transactions per entry) at the price of at most this much added latency. An entry arriving
    # after a quiet spell is still read at once by the blocked read.
    batch_wait_ms: int = 0
    min_idle_ms: int = 60_000
    claim_interval_s: float = 5.0
    max_deliveries: int = 5
    dlq_maxlen: int = 100_000
    retry_backoff_max_s: float = 5.0
    # Batches handled at once. Above 1, the next batch is read and parsed while the previous one
    # waits on Postgres and Redis; the handler must then be safe to run concurrently.
    max_concurrent_batches: int = 1
    # The dead-letter breaker (see breaker.py): more than max_ratio of the last window_entries
    # dead-lettered stops reading for cooldown_s. breaker_key holds the open state in the store.
    breaker_key: str = ""
    breaker_window_entries: int = 1000
    breaker_max_ratio: float = 0.5
    breaker_cooldown_s: float = 300.0
    # Transient failures of one batch retried this many times while the dependencies answer their
    # pings: the failure is then the batch's own (a query past statement_timeout), and the batch is
    # bisected down to the entry that fails alone, which is treated as failed.
    max_transient_retries: int = 10
    # A handler call running longer is cancelled (its transaction rolls back) and counted as the
    # batch failing; liveness is never shorter (see Consumer.liveness_s). Below min_idle_ms by
    # default, though the heartbeat keeps a live batch's entries from being claimed either way.
    batch_deadline_s: float = 45.0

    @classmethod
    def from_settings(cls, settings: WorkerSettings, stream: str, group: str) -> ConsumerConfig:
        keys = settings.keys
        return cls(
            stream=stream,
            group=group,
            consumer=settings.consumer_name,
            dlq_stream=keys.dlq_stream(stream),
            trimmed_counter_key=keys.trimmed_counter(stream),
            trimmed_unread_key=keys.trimmed_unread_counter(stream, group),
            batch_size=settings.batch_size,
            max_in_flight=settings.max_in_flight,
            block_ms=settings.block_ms,
            batch_wait_ms=settings.batch_wait_ms,
            min_idle_ms=settings.min_idle_ms,
            claim_interval_s=settings.claim_interval_s,
            max_deliveries=settings.max_deliveries,
            dlq_maxlen=settings.dlq_maxlen,
            retry_backoff_max_s=settings.retry_backoff_max_s,
            max_concurrent_batches=settings.max_concurrent_batches,
            breaker_key=keys.breaker(stream, group),
            breaker_window_entries=settings.breaker_window_entries,
            breaker_max_ratio=settings.breaker_max_ratio,
            breaker_cooldown_s=settings.breaker_cooldown_s,
            max_transient_retries=settings.max_transient_retries,
            batch_deadline_s=settings.batch_deadline_s,
        )


def classify(entries: Sequence[Entry], max_deliveries: int) -> tuple[list[Entry], list[Entry], list[Entry]]:
    """One rule for every entry in hand: trimmed (no fields left: deleted while pending), over the
    limit (delivered more than max_deliveries times: dead-letter it unhandled), or live (handle it)."""
    trimmed = [e for e in entries if not e.fields]
    over = [e for e in entries if e.fields and e.deliveries > max_deliveries]
    live = [e for e in entries if e.fields and e.deliveries <= max_deliveries]
    return trimmed, over, live


def _root_class(exc: BaseException) -> str:
    """The class of the innermost cause: the driver's (QueryCanceled), not the wrapper's."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return type(exc).__name__


def _checked(outcome: Outcome, entries: Sequence[Entry], log: structlog.typing.FilteringBoundLogger) -> Outcome:
    """The handler contract, enforced: an id it does not name has failed; an id not in its batch is
    a handler bug, logged and dropped (it must not ack, forward or dead-letter someone else's entry)."""
    ours = {e.id for e in entries}
    strangers = (set(outcome.done) | set(outcome.invalid) | set(outcome.failed)) - ours
    if strangers:
        log.error("handler_named_unknown_ids", ids=sorted(strangers)[:20], count=len(strangers))
        outcome.done = [i for i in outcome.done if i in ours]
        outcome.invalid = {i: why for i, why in outcome.invalid.items() if i in ours}
        outcome.failed = {i: why for i, why in outcome.failed.items() if i in ours}
    named = set(outcome.done) | set(outcome.invalid) | set(outcome.failed)
    for i in ours - named:
        outcome.failed[i] = "the handler reported no outcome for this entry"
    return outcome


class _Stopped(Exception):
    """Raised inside the loop when stop() interrupts a retry; the batch stays pending."""


class BatchDeadlineExceeded(Exception):
    """The handler ran past batch_deadline_s and was cancelled; its entries count as failed."""


class _OwnFailure(Exception):
    """Raised by a bounded retry: the call kept failing while the dependencies answer, so the
    failure is the work's own, not an outage's."""


class Consumer:
    def __init__(
        self,
        port: StreamPort,
        handler: Handler,
        config: ConsumerConfig,
        metrics: ConsumerMetrics,
        *,
        backpressure: Backpressure | None = None,
        dependencies_ok: Callable[[], Awaitable[bool]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._group = GroupStream(
            port,
            config.stream,
            config.group,
            config.consumer,
            config.dlq_stream,
            config.dlq_maxlen,
            config.trimmed_counter_key,
            config.breaker_key,
        )
        self._handler = handler
        self._cfg = config
        self._metrics = metrics
        self._backpressure = backpressure
        # Answers whether the dependencies are up (pings); without it transient retries never end.
        self._dependencies_ok = dependencies_ok
        self._breaker = DeadLetterBreaker(config.breaker_window_entries, config.breaker_max_ratio)
        self._next_breaker_check_at = 0.0
        self._clock = clock
        self._sleep_for = sleep
        self._stopping = False
        self._cursor = "0-0"
        self._next_claim_at = 0.0
        self._in_flight = 0
        self._batches: set[asyncio.Task[None]] = set()
        # Ids of the entries in hand: the heartbeat keeps them fresh so no reclaimer (ours included)
        # mistakes a slow batch for a dead consumer's.
        self._held: set[str] = set()
        self.joined = False
        self.last_progress_at = clock()
        self._log = structlog.get_logger("consumer").bind(stream=config.stream, group=config.group)

    # -- lifecycle ----------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop reading; the batch in hand is finished and acked, then run() returns."""
        self._stopping = True

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def liveness_s(self) -> float:
        """How long the loop may go without progress (a turn begun, a batch settled, a retry) and
        still be alive: a batch within its deadline, one blocked read, one backoff, and slack."""
        return self._cfg.batch_deadline_s + self._cfg.block_ms / 1000 + self._cfg.retry_backoff_max_s + 5.0

    def alive(self) -> bool:
        return self._clock() - self.last_progress_at < self.liveness_s

    @property
    def breaker_reason(self) -> str | None:
        """Why the dead-letter breaker is open (reading has stopped), or None."""
        return self._breaker.reason

    async def run(self, *, burst: bool = False) -> None:
        """Consume until stop(); with burst=True, return once nothing is left to read or reclaim."""
        heartbeat = asyncio.create_task(self._heartbeat(), name="consumer-heartbeat")
        try:
            await self._retrying(self._group.join)
            self.joined = True
            self._log.info("consumer_started", consumer=self._cfg.consumer)
            await self._drain_own_pending()
            while not self._stopping:
                raise_dropped_cancellation()
                self.last_progress_at = self._clock()
                if not await self._run_once() and burst and not self._batches:
                    if self._breaker.reason is not None or await self._drained():
                        break
        except _Stopped:
            pass
        finally:
            # Batches in hand are finished and acked before run() returns (the SIGTERM drain).
            try:
                await self._finish_batches()
            finally:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
        self._log.info("consumer_stopped", consumer=self._cfg.consumer)

    async def _heartbeat(self) -> None:
        """Every third of min_idle_ms, reset the idle time of the entries in hand (XCLAIM JUSTID: no
        delivery is counted). A batch slower than min_idle_ms is then never claimed away."""
        interval_s = self._cfg.min_idle_ms / 1000 / 3
        while True:
            raise_dropped_cancellation()
            await asyncio.sleep(interval_s)
            if self._held:
                try:
                    await self._group.touch(list(self._held))
                except TransientError as exc:
                    self._log.warning("heartbeat_failed", error=str(exc))
                except GroupMissing as exc:
                    try:
                        await self._recreate_group(exc)
                    except _Stopped:
                        return  # stop() came while Redis was refusing: nothing left to keep fresh
                except Exception:
                    self._log.exception("heartbeat_crashed")

    async def _run_once(self) -> bool:
        """One turn of the loop; returns whether it found work."""
        self._reap_batches()
        if await self._breaker_holds():
            await self._sleep(min(0.5, self._cfg.retry_backoff_max_s))
            return False
        if self._backpressure is not None and await self._retrying(self._backpressure.is_full):
            await self._sleep(min(0.5, self._cfg.retry_backoff_max_s))
            return False
        if self._clock() >= self._next_claim_at:
            self._next_claim_at = self._clock() + self._cfg.claim_interval_s
            if await self._reclaim():
                return True
        free = self._cfg.max_in_flight - self._in_flight
        if self._batches and (free <= 0 or len(self._batches) >= self._cfg.max_concurrent_batches):
            await asyncio.wait(self._batches, return_when=asyncio.FIRST_COMPLETED)
            return True
        count = min(self._cfg.batch_size, free)
        entries = await self._retrying(self._group.read_new, count, self._cfg.block_ms)
        if not entries:
            return False
        read_at = self._clock()
        self._hold(entries)
        if self._cfg.max_concurrent_batches == 1:
            await self._process(entries)
        else:
            self._batches.add(asyncio.create_task(self._process(entries), name="consumer-batch"))
        if len(entries) < count:
            # A partial batch: let the next one fill for batch_wait_ms from this read (time spent
            # handling this batch counts).
            wait_s = self._cfg.batch_wait_ms / 1000 - (self._clock() - read_at)
            if wait_s > 0:
                await self._sleep(wait_s)
        return True

    def _reap_batches(self) -> None:
        """Forget finished batches; re-raise what one of them raised (the loop must not go on)."""
        for task in [t for t in self._batches if t.done()]:
            self._batches.discard(task)
            task.result()

    async def _finish_batches(self) -> None:
        if self._batches:
            await asyncio.wait(self._batches)
            errors = [t.exception() for t in self._batches if not t.cancelled()]
            self._batches.clear()
            for error in errors:
                if error is not None and not isinstance(error, _Stopped):
                    raise error

    async def _drained(self) -> bool:
        """Burst mode: nothing unread, and nothing pending (or only entries not yet idle enough)."""
        mine = await self._retrying(self._group.backlog)
        if mine is None or mine.total == 0:
            return True
        if mine.lag == 0:
            # Only pending entries are left: wait for them to become claimable.
            self._next_claim_at = 0.0
            await self._sleep(min(self._cfg.min_idle_ms / 1000, 0.5))
        return False

    # -- the steps ----------------------------------------------------------------------------
    async def _drain_own_pending(self) -> None:
        """What a previous life of this consumer read and did not ack: suspects, run alone."""
        after = "0-0"
        while not self._stopping:
            ids = await self._retrying(self._group.own_pending, after, self._cfg.batch_size)
            if not ids:
                return
            self._log.info("own_pending_recovered", count=len(ids), first_id=ids[0])
            after = ids[-1]
            await self._run_alone(ids)

    async def _reclaim(self) -> int:
        free = max(1, self._cfg.max_in_flight - self._in_flight)
        result = await self._retrying(self._group.autoclaim, self._cfg.min_idle_ms, self._cursor, free)
        self._cursor = result.next_cursor
        if result.deleted_ids:
            # Redis removed these from the pending list itself: record each, loudly.
            counts = result.deleted_deliveries
            await self._record_trimmed([Entry(i, {}, counts.get(i, 0)) for i in result.deleted_ids])
        if result.ids:
            self._metrics.count(self._cfg.stream, self._cfg.group, "reclaimed", len(result.ids))
            self._log.info("entries_reclaimed", count=len(result.ids), first_id=result.ids[0])
            await self._run_alone(result.ids)
        return len(result.ids) + len(result.deleted_ids)

    async def _run_alone(self, ids: Sequence[str]) -> None:
        """Entries delivered before and never acked are suspects: one of them may kill its worker.
        Each is read (its delivery counted) and handled on its own, so only an entry that fails by
        itself climbs toward the DLQ; the others are kept fresh by the heartbeat meanwhile."""
        self._held.update(ids)
        try:
            for entry_id in ids:
                entry = await self._retrying(self._group.claim, entry_id)
                if entry is not None:
                    self._hold([entry])
                    await self._process([entry])
                if self._stopping:
                    return
        finally:
            self._held.difference_update(ids)

    async def _record_trimmed(self, entries: Sequence[Entry]) -> None:
        ids = [e.id for e in entries]
        self._log.error("pending_entries_trimmed", count=len(ids), ids=ids[:20])
        self._metrics.count(self._cfg.stream, self._cfg.group, "trimmed", len(ids))
        letters = [
            self._letter(e, "trimmed", "the entry was deleted from the stream while pending", "") for e in entries
        ]
        await self._retrying(self._group.count_trimmed, len(ids))
        await self._dead_letter(letters)

    def _hold(self, entries: Sequence[Entry]) -> None:
        """Count entries in flight from the moment they are ours until _process lets them go."""
        self._in_flight += len(entries)
        self._held.update(e.id for e in entries)
        self._metrics.in_flight.labels(self._cfg.stream, self._cfg.group).set(self._in_flight)

    async def _process(self, entries: Sequence[Entry]) -> None:
        """Handle entries already counted by _hold; commit, ack, dead-letter; then let them go."""
        started = time.perf_counter()
        try:
            trimmed, over, live = classify(entries, self._cfg.max_deliveries)
            if trimmed:
                await self._record_trimmed(trimmed)
            letters = [self._letter(e, "poison", f"delivered {e.deliveries} times without an ack", "") for e in over]
            outcome = await self._handle(live) if live else Outcome()
            await self._retrying(self._group.commit, outcome.done, outcome.forward)
            by_id = {e.id: e for e in live}
            classes = outcome.error_classes
            letters += [
                self._letter(by_id[i], "invalid", why, classes.get(i, "InvalidMessage"))
                for i, why in outcome.invalid.items()
            ]
            for i, why in outcome.failed.items():
                if by_id[i].deliveries >= self._cfg.max_deliveries:
                    letters.append(self._letter(by_id[i], "failed", why, classes.get(i, "")))
                else:
                    self._log.warning("entry_failed", entry_id=i, deliveries=by_id[i].deliveries, error=why)
            await self._dead_letter(letters)
            self._count(outcome, len(letters))
            if (reason := self._breaker.record(len(entries) - len(trimmed), len(letters))) is not None:
                await self._open_breaker(reason)
            self._log.info(
                "batch_handled",
                entries=len(entries),
                done=len(outcome.done),
                forwarded=len(outcome.forward),
                failed=len(outcome.failed),
                dead_lettered=len(letters),
                first_id=entries[0].id,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
        finally:
            self.last_progress_at = self._clock()
            self._in_flight -= len(entries)
            self._held.difference_update(e.id for e in entries)
            self._metrics.in_flight.labels(self._cfg.stream, self._cfg.group).set(self._in_flight)
            self._metrics.batch_seconds.labels(self._cfg.stream, self._cfg.group).observe(time.perf_counter() - started)

    async def _handle(self, entries: Sequence[Entry]) -> Outcome:
        """Handle a batch; when it blows up, handle its entries one by one to find the culprit."""
        try:
            outcome = await self._retry(lambda: self._within_deadline(entries), bounded=True)
        except (_Stopped, asyncio.CancelledError):
            raise
        except _OwnFailure as exc:
            if len(entries) == 1:
                self._log.error("entry_failed_transiently_alone", entry_id=entries[0].id, error=str(exc))
                return Outcome(
                    failed={entries[0].id: f"transient, past {self._cfg.max_transient_retries} retries: {exc}"},
                    error_classes={entries[0].id: _root_class(exc)},
                )
            half = len(entries) // 2
            outcome = await self._handle(entries[:half])
            outcome.merge(await self._handle(entries[half:]))
        except (InvalidMessage, RecursionError) as exc:
            # RecursionError: a payload nested too deep to encode; retrying cannot help either.
            if len(entries) == 1:
                return Outcome(
                    invalid={entries[0].id: f"{type(exc).__name__}: {exc}"},
                    error_classes={entries[0].id: _root_class(exc)},
                )
            outcome = await self._one_by_one(entries)
        except Exception as exc:
            if len(entries) == 1:
                self._log.exception("handler_failed", entry_id=entries[0].id)
                return Outcome(
                    failed={entries[0].id: f"{type(exc).__name__}: {exc}"},
                    error_classes={entries[0].id: _root_class(exc)},
                )
            outcome = await self._one_by_one(entries)
        return _checked(outcome, entries, self._log)

    async def _one_by_one(self, entries: Sequence[Entry]) -> Outcome:
        outcome = Outcome()
        for e in entries:
            outcome.merge(await self._handle([e]))
        return outcome

    async def _dead_letter(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        for letter in letters:
            self._log.error(
                "entry_dead_lettered",
                entry_id=letter.entry.id,
                reason=letter.reason,
                error_class=letter.error_class,
                deliveries=letter.entry.deliveries,
                error=letter.error,
            )
        dropped = await self._retrying(self._group.dead_letter, letters)
        if dropped:
            # The DLQ is at its MAXLEN: its oldest letters are gone for good. Say so, loudly.
            self._metrics.dlq_dropped.labels(self._cfg.stream, self._cfg.group).inc(dropped)
            self._log.error("dead_letters_dropped", count=dropped, dlq_maxlen=self._cfg.dlq_maxlen)

    async def _within_deadline(self, entries: Sequence[Entry]) -> Outcome:
        try:
            async with asyncio.timeout(self._cfg.batch_deadline_s):
                return await self._handler.handle(entries)
        except TimeoutError:
            # Raised as a failure of the batch (not a TransientError): split, then failed alone.
            raise BatchDeadlineExceeded(
                f"the handler ran past batch_deadline_s ({self._cfg.batch_deadline_s:g})"
            ) from None

    def _letter(self, entry: Entry, reason: DlqReason, error: str, error_class: str) -> DeadLetter:
        return DeadLetter(entry, reason, error, error_class, self._cfg.consumer)

    def _count(self, outcome: Outcome, dead_lettered: int) -> None:
        s, g = self._cfg.stream, self._cfg.group
        self._metrics.count(s, g, "done", len(outcome.done))
        self._metrics.count(s, g, "invalid", len(outcome.invalid))
        self._metrics.count(s, g, "failed", len(outcome.failed))
        self._metrics.count(s, g, "dead_lettered", dead_lettered)

    # -- retry --------------------------------------------------------------------------------
    async def _retrying(self, call: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """call(*args, **kwargs), retried while it raises TransientError (see _retry)."""
        return await self._retry(lambda: call(*args, **kwargs))

    async def _retry(self, call: Callable[[], Awaitable[T]], *, bounded: bool = False) -> T:
        """Run call until it does not raise TransientError (the heartbeat keeps the entries in hand
        fresh meanwhile, so no other consumer claims them). stop() abandons it. `bounded`: past
        max_transient_retries, raise _OwnFailure if the dependencies answer their pings."""
        delay_s = 0.05
        failures = 0
        while True:
            raise_dropped_cancellation()
            try:
                return await call()
            except TransientError as exc:
                # Retrying is progress as far as liveness goes: an outage must not restart the pod.
                self.last_progress_at = self._clock()
                self._metrics.transient_errors.labels(self._cfg.stream, self._cfg.group).inc()
                self._log.warning("transient_failure", error=str(exc), retry_in_s=round(delay_s, 3))
                failures += 1
                if bounded and failures >= self._cfg.max_transient_retries and await self._dependencies_up():
                    raise _OwnFailure(str(exc)) from exc
            except GroupMissing as exc:
                await self._recreate_group(exc)
                continue
            if self._stopping:
                raise _Stopped
            await self._sleep(delay_s)
            delay_s = min(delay_s * 2, self._cfg.retry_backoff_max_s)

    async def _dependencies_up(self) -> bool:
        if self._dependencies_ok is None:
            return False
        try:
            return await self._dependencies_ok()
        except Exception:
            return False

    # -- the dead-letter breaker --------------------------------------------------------------
    async def _open_breaker(self, reason: str) -> None:
        self._log.error("dead_letter_breaker_opened", reason=reason, cooldown_s=self._cfg.breaker_cooldown_s)
        self._metrics.breaker_open.labels(self._cfg.stream, self._cfg.group).set(1)
        await self._retrying(self._group.open_breaker, reason, self._cfg.breaker_cooldown_s)

    async def _breaker_holds(self) -> bool:
        """Whether reading must wait: the breaker is open, here or (as the store says) in another
        consumer of the group. Closes once the store's key is gone (cool-down over, or reflexctl)."""
        if not self._cfg.breaker_key:
            return self._breaker.reason is not None
        if self._breaker.reason is None and self._clock() < self._next_breaker_check_at:
            return False
        self._next_breaker_check_at = self._clock() + self._cfg.claim_interval_s
        stored = await self._retrying(self._group.breaker_reason)
        if stored is None and self._breaker.reason is not None:
            self._log.warning("dead_letter_breaker_closed", was=self._breaker.reason)
            self._breaker.close()
            self._metrics.breaker_open.labels(self._cfg.stream, self._cfg.group).set(0)
        elif stored is not None and self._breaker.reason is None:
            self._log.error("dead_letter_breaker_opened", reason=stored, by="another consumer of the group")
            self._breaker.open(stored)
            self._metrics.breaker_open.labels(self._cfg.stream, self._cfg.group).set(1)
        return self._breaker.reason is not None

    async def _recreate_group(self, exc: GroupMissing) -> None:
        """The group vanished under us (restore from an older AOF, XGROUP DESTROY): create it again
        from the stream's start. Replaying is safe: every effect is idempotent on the event's id."""
        self._metrics.groups_recreated.labels(self._cfg.stream, self._cfg.group).inc()
        self._log.error("consumer_group_recreated", error=str(exc), consumer=self._cfg.consumer)
        self._cursor = "0-0"
        await self._retrying(self._group.join)

    async def _sleep(self, seconds: float) -> None:
        await self._sleep_for(seconds)
