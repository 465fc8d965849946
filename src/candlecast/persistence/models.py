"""SQLAlchemy tables for trades and their orders."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator):
    """Store UTC datetimes; hand them back timezone-aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class TradeRow(Base):
    __tablename__ = "trades"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair: Mapped[str] = mapped_column(String(64), index=True)
    is_open: Mapped[bool] = mapped_column(index=True)
    open_date: Mapped[datetime] = mapped_column(UTCDateTime)
    open_rate: Mapped[float] = mapped_column(Float)
    amount: Mapped[float] = mapped_column(Float)
    stake_amount: Mapped[float] = mapped_column(Float)
    fee_open: Mapped[float] = mapped_column(Float)
    fee_close: Mapped[float] = mapped_column(Float)
    strategy: Mapped[str] = mapped_column(String(128))
    timeframe: Mapped[str] = mapped_column(String(16))
    enter_tag: Mapped[str | None] = mapped_column(String(256), nullable=True)
    close_date: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    close_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    exit_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    close_profit: Mapped[float | None] = mapped_column(Float, nullable=True)
    close_profit_abs: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Risk state (added later: nullable, so older databases migrate by adding columns).
    max_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    min_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    stop_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    stop_loss_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    initial_stop_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    initial_stop_loss_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    is_stop_loss_trailing: Mapped[bool | None] = mapped_column(nullable=True)


class OrderRow(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trade_id: Mapped[int] = mapped_column(ForeignKey("trades.id"), index=True)
    side: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    price: Mapped[float] = mapped_column(Float)
    amount: Mapped[float] = mapped_column(Float)
    cost: Mapped[float] = mapped_column(Float)
    fee: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Live orders: the exchange's id, progress, and (sell orders) why the trade exits.
    order_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    filled: Mapped[float | None] = mapped_column(Float, nullable=True)
    average: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A stop order on the exchange (``stoploss_on_exchange``): "stoploss" and its trigger
    # price (freqtrade's ``ft_order_side`` and ``stop_price``); NULL for other orders.
    ft_order_side: Mapped[str | None] = mapped_column(String(16), nullable=True)
    stop_price: Mapped[float | None] = mapped_column(Float, nullable=True)


class CustomDataRow(Base):
    """``trade.set_custom_data(key, value)``: one JSON value per trade and key."""

    __tablename__ = "trade_custom_data"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trade_id: Mapped[int] = mapped_column(ForeignKey("trades.id"), index=True)
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)


class PairLockRow(Base):
    """A pair lock (freqtrade's ``pairlocks`` table): ``pair`` "*" locks every pair."""

    __tablename__ = "pairlocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair: Mapped[str] = mapped_column(String(64), index=True)
    side: Mapped[str] = mapped_column(String(25), default="*")
    reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    lock_time: Mapped[datetime] = mapped_column(UTCDateTime)
    lock_end_time: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    active: Mapped[bool] = mapped_column(default=True, index=True)
