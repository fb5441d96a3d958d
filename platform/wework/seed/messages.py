"""Vectorised generation of messages and their delivery callbacks, chunk by chunk.

Two million rows are far too many for per-row Python objects: each chunk is a handful of
numpy arrays turned into a polars DataFrame whose columns are the table's columns, ready
for ``LOAD DATA``. Only the ids are built per row (uuid text).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from wework.gateway.base import EventType, NotifyType
from wework.seed.entities import TEMPLATE_KINDS

MESSAGE_TYPES = np.array(["text", "image", "file", "link", "miniprogram", "at"])
TYPE_SHARES = np.array([0.58, 0.12, 0.06, 0.11, 0.05, 0.08])
# Share of messages created in each UTC hour: Beijing office hours (01–13 UTC) dominate.
HOUR_PROFILE = np.array(
    [3, 6, 8, 9, 9, 8, 8, 9, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0.6, 0.4, 0.3, 0.3, 0.4, 0.8, 1.5],
    dtype=float,
)
HOUR_PROFILE /= HOUR_PROFILE.sum()
ERROR_CODES = np.array(["45009", "40014", "60020", "-1"])
ERROR_TEXTS = np.array(
    ["api freq out of limit", "invalid access_token", "not allow to access from your ip",
     "gateway timeout"]
)
MESSAGE_COLUMNS = [
    "id", "tenant_id", "account_id", "conversation_id", "message_type", "content",
    "template_id", "status", "wework_msg_id", "send_time", "callback_time", "error_code",
    "error_message", "retry_count", "batch_id", "priority", "scheduled_time", "created_at",
    "updated_at",
]
CALLBACK_COLUMNS = [
    "id", "guid", "notify_type", "event_type", "raw_data", "parsed_data", "status",
    "error_message", "retry_count", "process_time", "received_time", "source_ip", "user_agent",
]
KEY_COLUMNS = ["guid", "event_id", "callback_event_id", "created_at"]


def _content_pool(rng: np.random.Generator, size: int = 40) -> dict[str, np.ndarray]:
    """Pre-rendered JSON contents per message type that pass the services' validation."""
    pools: dict[str, list[str]] = {t: [] for t in MESSAGE_TYPES}
    for _i in range(size):
        n = int(rng.integers(1, 10_000))
        pools["text"].append({"text": f"您好，本周活动编号 {n}，详情请咨询客服。"})
        pools["image"].append({"url": f"https://cdn.example.com/img/{n}.jpg"})
        pools["file"].append({"media_id": f"MEDIA{n:06d}", "filename": f"报价单{n}.pdf"})
        pools["link"].append(
            {"title": f"新品上市 {n}", "url": f"https://shop.example.com/p/{n}",
             "description": "点击查看详情"}
        )
        pools["miniprogram"].append(
            {"appid": "wx1234567890abcdef", "title": f"会员中心 {n}",
             "pagepath": f"pages/member/index?id={n}", "thumb_media_id": f"THUMB{n:05d}"}
        )
        pools["at"].append({"text": "请查收通知", "mentions": [f"user{n}", f"user{n + 1}"]})
    return {
        t: np.array([json.dumps(c, ensure_ascii=False) for c in v], dtype=object)
        for t, v in pools.items()
    }


def _fill(text: str, values: dict[str, str]) -> str:
    """Replace the templates service's ``{{name}}`` placeholders."""
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    return text


def _template_pool() -> list[tuple[str, np.ndarray]]:
    """(message_type, rendered contents) per template kind, in TEMPLATE_KINDS order."""
    out = []
    for _kind, mtype, content, variables in TEMPLATE_KINDS:
        rendered = []
        for i in range(20):
            values = {v: f"{v}{i}" for v in variables}
            rendered.append(json.dumps({k: _fill(s, values) for k, s in content.items()},
                                       ensure_ascii=False))
        out.append((mtype, np.array(rendered, dtype=object)))
    return out


@dataclass
class AccountArrays:
    """The accounts that send, as parallel arrays (indexable by a numpy index)."""

    ids: np.ndarray
    tenant_ids: np.ndarray
    tenant_index: np.ndarray  # position of the tenant in the plan (for its templates)
    numbers: np.ndarray
    fail_rate: np.ndarray
    latency_scale: np.ndarray
    weight: np.ndarray
    template_ids: np.ndarray  # [tenant_index, kind] -> template id


def uuid_strings(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random (v4) UUID text, for ids made outside the platform (the gateway's event ids)."""
    raw = rng.bytes(16 * n).hex()
    out = np.empty(n, dtype=object)
    for i in range(n):
        h = raw[32 * i : 32 * i + 32]
        out[i] = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"
    return out


def uuid7_strings(rng: np.random.Generator, created_s: np.ndarray) -> np.ndarray:
    """UUIDv7 text ids stamped with each row's creation second (plus random milliseconds),
    like ``new_id`` makes them live: ids sort by creation time."""
    n = len(created_s)
    raw = rng.bytes(16 * n).hex()  # the draws of uuid_strings: the data set stays the same
    out = np.empty(n, dtype=object)
    for i in range(n):
        h = raw[32 * i : 32 * i + 32]
        t = f"{int(created_s[i]) * 1000 + int(h[:3], 16) % 1000:012x}"
        out[i] = f"{t[:8]}-{t[8:12]}-7{h[13:16]}-a{h[17:20]}-{h[20:32]}"
    return out


@dataclass
class BatchSpec:
    """Messages of one batch task, expanded at ``created`` and sent at ``rate`` per minute."""

    batch_id: str
    account_pos: int
    template_kind: int
    created: datetime
    start: datetime | None
    total: int
    done: int  # messages already sent (the rest pending, or cancelled)
    rest_status: str  # "pending" | "cancelled"
    rate_per_minute: int
    fail_boost: float = 0.0


# The newest messages of a seed that are still in flight (pending or sending), however
# few messages its last two minutes hold.
IN_FLIGHT_AT_LEAST = 20


class MessageGenerator:
    def __init__(self, seed: int, accounts: AccountArrays, now: datetime, days: int,
                 groups: int, conversations: int):
        self.rng = np.random.default_rng(seed)
        self.acc = accounts
        self.now = int(np.datetime64(now, "s").astype(np.int64))
        self.start = self.now - days * 86_400
        self.day0 = self.start - self.start % 86_400
        self.days = days
        self.groups = groups
        self.conversations = conversations
        self.pool = _content_pool(self.rng)
        self.templates = _template_pool()
        self.p_account = accounts.weight / accounts.weight.sum()

    # -- free-standing messages --------------------------------------------------------
    def chunks(self, total: int, chunk_size: int) -> Iterator[pl.DataFrame]:
        """``total`` messages in chunks, oldest day first, each chunk sorted by id.

        The days are drawn up front (how many messages each day gets: the same uniform
        draw per message as before, summed) and handed out in order, so the ids (UUIDv7,
        by creation time) reach MySQL nearly sorted and the clustered index is appended
        to. In random order every insert lands on a random page: once the table outgrew
        the buffer pool (1 GB locally, ~2.5M messages) the load fell from 20k to 10k
        messages/s, reading a page from disk per row or two (measured at 5M)."""
        days = self.days + 1
        last_of_day = np.cumsum(self.rng.multinomial(total, np.full(days, 1 / days)))
        done = 0
        while done < total:
            n = min(chunk_size, total - done)
            day = np.searchsorted(last_of_day, np.arange(done, done + n), side="right")
            done += n
            yield self._chunk(n, day, newest=IN_FLIGHT_AT_LEAST if done == total else 0
                              ).sort("id")

    def _chunk(self, n: int, day: np.ndarray, newest: int = 0) -> pl.DataFrame:
        rng = self.rng
        acct = rng.choice(len(self.p_account), size=n, p=self.p_account)
        hour = rng.choice(24, size=n, p=HOUR_PROFILE)
        created = self.day0 + day * 86_400 + hour * 3_600 + rng.integers(0, 3_600, size=n)
        # Fold the few draws outside the window back into it.
        created = np.where(created >= self.now, created - 86_400, created)
        created = np.where(created < self.start, created + 86_400, created)
        created = np.minimum(created, self.now - 1)
        templated = rng.random(n) < 0.2
        kind = rng.integers(0, len(self.templates), size=n)
        mtype = rng.choice(len(MESSAGE_TYPES), size=n, p=TYPE_SHARES)
        # In flight: what was created in the last two minutes, and in the last chunk (the
        # newest day) at least the ``newest`` messages, so a small sample still shows the
        # queue's states.
        in_flight = self.now - 120
        if newest:
            in_flight = min(in_flight, int(np.sort(created)[-min(newest, n)]))
        return self._finish(
            n, acct, created, templated, kind, mtype, batch_id=None, send_start=None,
            rest_status=None, done=None, rate=None, fail_boost=0.0, in_flight=in_flight,
        )

    # -- batch task messages -----------------------------------------------------------
    def batch(self, spec: BatchSpec) -> pl.DataFrame:
        n = spec.total
        created = np.full(n, int(np.datetime64(spec.created, "s").astype(np.int64)))
        acct = np.full(n, spec.account_pos)
        kind = np.full(n, spec.template_kind)
        mtype = np.zeros(n, dtype=int)
        start = None if spec.start is None else int(np.datetime64(spec.start, "s").astype(np.int64))
        return self._finish(
            n, acct, created, np.ones(n, dtype=bool), kind, mtype, batch_id=spec.batch_id,
            send_start=start, rest_status=spec.rest_status, done=spec.done,
            rate=spec.rate_per_minute, fail_boost=spec.fail_boost,
        )

    def _finish(self, n, acct, created, templated, kind, mtype, *, batch_id, send_start,
                rest_status, done, rate, fail_boost, in_flight=None) -> pl.DataFrame:
        rng, a, now = self.rng, self.acc, self.now
        types = MESSAGE_TYPES[mtype].astype(object)
        content = np.empty(n, dtype=object)
        for t in MESSAGE_TYPES:
            sel = (~templated) & (types == t)
            content[sel] = self.pool[t][rng.integers(0, len(self.pool[t]), size=sel.sum())]
        for k, (ktype, rendered) in enumerate(self.templates):
            sel = templated & (kind == k)
            types[sel] = ktype
            content[sel] = rendered[rng.integers(0, len(rendered), size=sel.sum())]
        template_id = np.where(templated, a.template_ids[a.tenant_index[acct], kind], None)

        # Send time: a few seconds after creation, or paced by the batch's rate.
        if send_start is None:
            send = created + rng.exponential(2.0, size=n).astype(np.int64) + 1
        else:
            send = send_start + (np.arange(n) * 60 // max(rate, 1)).astype(np.int64)
        latency = np.ceil(rng.lognormal(np.log(1.2), 0.9, size=n) * a.latency_scale[acct])
        callback = send + latency.astype(np.int64)

        u = rng.random(n)
        fail = u < np.minimum(a.fail_rate[acct] + fail_boost, 0.95)
        status = np.where(fail, "failed", "delivered").astype(object)
        status[(~fail) & (callback >= now)] = "sent"
        status[(~fail) & (rng.random(n) < 0.06)] = "sent"  # receipt never came
        status[(~fail) & (rng.random(n) < 0.004)] = "cancelled"
        scheduled = np.full(n, -1, dtype=np.int64)
        if batch_id is None:
            fresh = created >= in_flight
            status[fresh] = np.where(rng.random(fresh.sum()) < 0.6, "pending", "sending")
            status[send >= now] = np.where(status[send >= now] == "failed", "sending", "pending")
            future = rng.random(n) < 0.003
            status[future] = "pending"
            scheduled[future] = now + rng.integers(3_600, 3 * 86_400, size=future.sum())
        else:
            tail = np.arange(n) >= done
            status[tail] = rest_status
            if send_start is None:
                status[:] = rest_status
        unsent = np.isin(status, ["pending", "sending", "cancelled"])
        send_t = np.where(unsent, -1, send)
        cb_t = np.where(status == "delivered", callback, -1)
        retry = np.where(status == "failed", 3, np.where(rng.random(n) < 0.05, 1, 0))
        retry = np.where(unsent, 0, retry)
        updated = np.maximum.reduce([created, send_t, cb_t])
        err = rng.integers(0, len(ERROR_CODES), size=n)
        failed = status == "failed"
        error_code = np.where(failed, ERROR_CODES[err].astype(object), None)
        error_message = np.where(failed, ERROR_TEXTS[err].astype(object), None)
        ids = uuid7_strings(rng, created)
        acct_no = a.numbers[acct]
        conv_idx = rng.integers(0, self.conversations, size=n)

        text_columns = {
            "id": ids,
            "tenant_id": a.tenant_ids[acct],
            "account_id": a.ids[acct],
            "message_type": types,
            "content": content,
            "template_id": template_id,
            "status": status,
            "error_code": error_code,
            "error_message": error_message,
            "batch_id": np.full(n, batch_id, dtype=object),
        }
        df = pl.DataFrame(
            [pl.Series(k, v.tolist(), dtype=pl.String) for k, v in text_columns.items()]
        ).with_columns(
            pl.Series("acct_no", acct_no),
            pl.Series("conv_idx", conv_idx),
            pl.Series("send_s", send_t),
            pl.Series("cb_s", cb_t),
            pl.Series("retry_count", retry),
            pl.Series("priority", np.where(rng.random(n) < 0.1, rng.integers(1, 11, size=n), 5)),
            pl.Series("sched_s", scheduled),
            pl.Series("created_s", created),
            pl.Series("updated_s", updated),
        )
        ts = lambda c: pl.when(pl.col(c) >= 0).then(pl.from_epoch(c, "s"))  # noqa: E731
        return df.select(
            "id",
            "tenant_id",
            "account_id",
            pl.concat_str(
                pl.when(pl.col("conv_idx") < self.groups).then(pl.lit("wr")).otherwise(
                    pl.lit("wm")),
                pl.col("acct_no").cast(pl.String).str.zfill(5),
                pl.col("conv_idx").cast(pl.String).str.zfill(3),
            ).alias("conversation_id"),
            "message_type",
            "content",
            "template_id",
            "status",
            pl.when(pl.col("status").is_in(["sent", "delivered"]))
            .then(pl.concat_str(pl.lit("wwm-"), pl.col("id").str.slice(0, 13)))
            .alias("wework_msg_id"),
            ts("send_s").alias("send_time"),
            ts("cb_s").alias("callback_time"),
            "error_code",
            "error_message",
            "retry_count",
            "batch_id",
            "priority",
            ts("sched_s").alias("scheduled_time"),
            pl.from_epoch("created_s", "s").alias("created_at"),
            pl.from_epoch("updated_s", "s").alias("updated_at"),
        )


def callbacks_for(messages: pl.DataFrame, seed: int, share: float) -> tuple[pl.DataFrame,
                                                                           pl.DataFrame]:
    """Receipt events (format of wework.gateway.base) for a sample of finished messages,
    and the de-duplication keys of the ones that were applied.

    Most were processed; a few failed on a transient error (a replay would apply them);
    a few processed ones arrived twice, and the copy was stored and ignored.
    """
    rng = np.random.default_rng(seed)
    done = messages.filter(pl.col("status").is_in(["delivered", "failed"]))
    done = done.filter(pl.Series(rng.random(done.height) < share))
    n = done.height
    if n == 0:
        empty = pl.DataFrame(schema=dict.fromkeys(CALLBACK_COLUMNS, pl.String))
        return empty, pl.DataFrame(schema=dict.fromkeys(KEY_COLUMNS, pl.String))
    status = np.where(rng.random(n) < 0.985, "processed", "failed")
    payload = pl.struct(
        pl.col("id").alias("message_id"),
        pl.col("status"),
        pl.col("wework_msg_id"),
        pl.col("error_code"),
    ).struct.json_encode()
    received_s = done.select(
        pl.coalesce("callback_time", "send_time").dt.epoch("s")
    ).to_series().to_numpy()
    events = done.select(
        pl.Series("id", uuid7_strings(rng, received_s).tolist(), dtype=pl.String),
        pl.Series("event_id", uuid_strings(rng, n).tolist(), dtype=pl.String),
        pl.concat_str(pl.lit("guid-"), pl.col("account_id")).alias("guid"),
        pl.coalesce("callback_time", "send_time").alias("received_time"),
        payload.alias("parsed_data"),
        pl.Series("status", status),
        pl.Series("lag", rng.integers(0, 3, size=n)),
    ).with_columns(
        pl.concat_str(
            pl.lit('{"event_id":"'), pl.col("event_id"), pl.lit('","guid":"'), pl.col("guid"),
            pl.lit(f'","notify_type":{int(NotifyType.MESSAGE_RECEIPT)},"event_type":"'
                   f'{EventType.MESSAGE_RECEIPT.value}","timestamp":"'),
            pl.col("received_time").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            pl.lit('","data":'), pl.col("parsed_data"), pl.lit("}"),
        ).alias("raw_data"),
        (pl.col("received_time") + pl.duration(seconds=pl.col("lag"))).alias("process_time"),
    )
    dup_of = events.filter(pl.col("status") == "processed").filter(
        pl.Series(rng.random(int((events["status"] == "processed").sum())) < 0.01)
    )
    duplicates = dup_of.with_columns(
        pl.Series(
            "id",
            uuid7_strings(rng, dup_of["received_time"].dt.epoch("s").to_numpy() + 5).tolist(),
            dtype=pl.String,
        ),
        pl.lit("ignored").alias("status"),
        (pl.col("received_time") + pl.duration(seconds=5)).alias("received_time"),
        (pl.col("process_time") + pl.duration(seconds=5)).alias("process_time"),
        pl.concat_str(pl.lit("duplicate of event "), pl.col("id")).alias("error_message"),
    )
    events = pl.concat(
        [events.with_columns(
            pl.when(pl.col("status") == "failed")
            .then(pl.lit("Lock wait timeout exceeded; try restarting transaction"))
            .otherwise(pl.lit(None, dtype=pl.String)).alias("error_message")),
         duplicates],
        how="vertical",
    ).with_columns(
        pl.lit(int(NotifyType.MESSAGE_RECEIPT)).alias("notify_type"),
        pl.lit(EventType.MESSAGE_RECEIPT.value).alias("event_type"),
        pl.when(pl.col("status") == "failed").then(1).otherwise(0).alias("retry_count"),
        pl.when(pl.col("status") == "failed").then(None).otherwise(pl.col("parsed_data"))
        .alias("parsed_data"),
        pl.lit("10.8.0.12").alias("source_ip"),
        pl.lit("WeWorkInstance/3.1").alias("user_agent"),
    )
    keys = events.filter(pl.col("status") == "processed").select(
        "guid", "event_id", pl.col("id").alias("callback_event_id"),
        pl.col("process_time").alias("created_at"),
    )
    return events.select(CALLBACK_COLUMNS), keys
