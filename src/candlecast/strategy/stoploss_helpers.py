"""Stoploss helpers for ``custom_stoploss``: turn a stop given relative to the open price, or
as an absolute price, into the stop relative to the current price that candlecast expects.

Both return a non-negative ratio (``0`` when the requested stop is already on the wrong side
of the current price) and the integer ``1`` where the formula is undefined, as freqtrade's do.
"""

from __future__ import annotations


def _not_below_zero(value: float) -> float:
    # Negative values become 0.0; -0.0 and NaN pass through unchanged (as freqtrade's max()).
    return 0.0 if value < 0.0 else value


def stoploss_from_open(
    open_relative_stop: float,
    current_profit: float,
    is_short: bool = False,
    leverage: float = 1.0,
) -> float:
    """The stop relative to the current price that sits at ``open_relative_stop`` from the
    open price (``0.05``: 5 % above the open for a long, below it for a short).

    ``current_profit`` is the trade's current profit ratio, leverage included; the result is
    scaled by ``leverage`` as ``custom_stoploss`` expects. Returns ``0.0`` when that stop
    would be above (long) / below (short) the current price, and ``1`` when the formula is
    undefined (a long at -100 % or a short at +100 % unleveraged profit).
    """
    profit = current_profit / leverage
    if (profit == -1 and not is_short) or (is_short and profit == 1):
        return 1
    if is_short:
        stoploss = -1 + ((1 - open_relative_stop / leverage) / (1 - profit))
    else:
        stoploss = 1 - ((1 + open_relative_stop / leverage) / (1 + profit))
    return _not_below_zero(stoploss * leverage)


def stoploss_from_absolute(
    stop_rate: float,
    current_rate: float,
    is_short: bool = False,
    leverage: float = 1.0,
) -> float:
    """The stop relative to ``current_rate`` that sits at the price ``stop_rate``.

    The distance is capped to 0..1 and then multiplied by ``leverage``. Returns ``0.0`` when
    ``stop_rate`` is above (long) / below (short) ``current_rate``, and ``1`` when
    ``current_rate`` is 0.
    """
    if current_rate == 0:
        return 1
    stoploss = 1 - (stop_rate / current_rate)
    if is_short:
        stoploss = -stoploss
    capped = 1.0 if stoploss > 1.0 else stoploss
    return _not_below_zero(capped) * leverage
