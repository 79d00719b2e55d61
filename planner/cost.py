"""Cost: $/GPU-hour from a named market, or from owning the hardware, to the fleet's $/hour,
$/month, $ per million tokens at the traffic's actual rate, $ per request, energy per token.

Prices come from the GPU catalog (`price_usd_per_hour`, with its market, source and date),
replaced per GPU by `--price H100=2.49` or by a prices file (YAML or CSV rows of `gpu,
usd_per_hour, market, source, date`). Owned hardware: the server's price per GPU amortised over
N years, plus power (TDP x utilisation x PUE x $/kWh) and hosting per GPU-month.

Prices from different markets (a neocloud's on-demand list against a hyperscaler's) do not
compare: every price carries its market, and the search says when its candidates mix markets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .catalog import get_gpu, gpus
from .errors import PlannerError, option_error
from .fileio import read_text

HOURS_PER_MONTH = 730.0  # 8,760 hours a year / 12


@dataclass(frozen=True)
class Price:
    """One GPU's price per hour and where it comes from."""

    gpu: str
    usd_per_hour: float
    market: str
    source: str
    date: str | None


class OwnedHardware(BaseModel):
    """Owning the GPUs instead of renting them: the cost of one GPU-hour."""

    model_config = ConfigDict(frozen=True)

    server_usd_per_gpu: float = Field(gt=0, le=10_000_000, description="Purchase price of the server, per GPU in it (USD)")
    years: float = Field(default=4.0, gt=0, le=20, description="Years over which the purchase is amortised")
    usd_per_kwh: float = Field(default=0.10, ge=0, le=10, description="Electricity price (USD per kWh)")
    pue: float = Field(default=1.3, ge=1.0, le=5.0, description="Power usage effectiveness of the data centre (facility / IT power)")
    utilisation: float = Field(default=0.7, ge=0, le=1, description="Average power draw as a share of TDP")
    hosting_usd_per_gpu_month: float = Field(default=0.0, ge=0, le=100_000, description="Rack space, network and operations per GPU-month (USD)")

    def usd_per_gpu_hour(self, tdp_w: float) -> float:
        capex = self.server_usd_per_gpu / (self.years * 8760.0)
        power = tdp_w / 1000.0 * self.utilisation * self.pue * self.usd_per_kwh
        return capex + power + self.hosting_usd_per_gpu_month / HOURS_PER_MONTH

    def describe(self) -> str:
        return (
            f"owned: ${self.server_usd_per_gpu:,.0f}/GPU over {self.years:g} years, power at {self.utilisation:.0%} of TDP x PUE {self.pue:g} x "
            f"${self.usd_per_kwh:g}/kWh, hosting ${self.hosting_usd_per_gpu_month:,.0f}/GPU-month"
        )


#: The `OwnedHardware` fields, as the `--own-*` options name them (`--own-server-usd-per-gpu`, ...).
OWNED_FIELDS = tuple(OwnedHardware.model_fields)


def owned_hardware(**fields) -> OwnedHardware:
    """`OwnedHardware` from its fields; a bad value is one line naming its `--own-*` option."""
    try:
        return OwnedHardware(**fields)
    except ValidationError as exc:
        raise option_error(exc, "--own-") from None


class PriceBook:
    """The price of each GPU: the catalog's, overridden by a prices file, then by `--price`."""

    def __init__(self, overrides: dict[str, float] | None = None, prices_file: str | Path | None = None, owned: OwnedHardware | None = None):
        self.prices: dict[str, Price] = {}
        for g in gpus().values():
            if g.price_usd_per_hour is not None:
                self.prices[g.id] = Price(g.id, g.price_usd_per_hour, g.price_market or "unstated market", g.price_source, g.price_date)
        if prices_file is not None:
            for p in read_prices(prices_file):
                self.prices[p.gpu] = p
        for name, usd in (overrides or {}).items():
            g = get_gpu(name)
            if not (isinstance(usd, int | float) and math.isfinite(usd) and 0 < usd <= 10_000):
                raise PlannerError(f"price for {g.id}: {usd!r} is not a price per GPU-hour in (0, 10000] USD")
            self.prices[g.id] = Price(g.id, float(usd), "given on the command line", "--price", None)
        self.owned = owned
        if owned is not None:
            self.prices = {g.id: Price(g.id, owned.usd_per_gpu_hour(g.tdp_w), "owned hardware", owned.describe(), None) for g in gpus().values()}

    def get(self, gpu: str) -> Price | None:
        return self.prices.get(get_gpu(gpu).id)

    def markets(self, gpu_ids) -> set[str]:
        return {self.prices[g].market for g in gpu_ids if g in self.prices}


def parse_price_overrides(items: list[str] | None) -> dict[str, float]:
    """`["H100=2.49", "B200=5"]` -> `{"H100": 2.49, "B200": 5.0}`; errors name the item."""
    out = {}
    for item in items or []:
        name, eq, value = item.partition("=")
        try:
            usd = float(value)
        except ValueError:
            usd = math.nan
        if not eq or not name.strip() or not math.isfinite(usd):
            raise PlannerError(f"--price {item!r}: expected GPU=USD_PER_HOUR, e.g. H100=2.49")
        out[name.strip()] = usd
    return out


class _PriceRow(BaseModel):
    model_config = ConfigDict(extra="ignore")

    gpu: str
    usd_per_hour: float = Field(gt=0, le=10_000)
    market: str = "unstated market"
    source: str = ""
    date: str | None = None


def read_prices(path: str | Path) -> list[Price]:
    """Rows of a prices file (YAML list or CSV with `gpu, usd_per_hour[, market, source, date]`)."""
    path = Path(path)
    text = read_text(path, "prices file")
    if path.suffix.lower() == ".csv":
        try:
            rows = pd.read_csv(path).to_dict("records")
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise PlannerError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
        first_line = 2
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PlannerError(f"{path}: malformed YAML ({str(exc).splitlines()[0]})") from None
        except RecursionError:
            raise PlannerError(f"{path}: YAML nested too deeply") from None
        rows = data.get("prices") if isinstance(data, dict) else data
        if not isinstance(rows, list):
            raise PlannerError(f"{path}: expected a list of prices (gpu, usd_per_hour, market, source, date)")
        first_line = 1
    out = []
    for k, row in enumerate(rows):
        try:
            r = _PriceRow.model_validate({key: (None if isinstance(v, float) and math.isnan(v) else v) for key, v in dict(row).items()})
        except (ValidationError, TypeError, ValueError) as exc:
            msg = exc.errors()[0] if isinstance(exc, ValidationError) else {"loc": ("row",), "msg": str(exc)}
            raise PlannerError(f"{path}: entry {k + first_line}: {'.'.join(map(str, msg['loc']))}: {msg['msg']}") from None
        out.append(Price(get_gpu(r.gpu).id, r.usd_per_hour, r.market, r.source, None if r.date is None else str(r.date)))
    return out


@dataclass(frozen=True)
class FleetCost:
    """What a fleet costs serving a traffic. USD; tokens/s of the whole traffic."""

    usd_per_hour: float
    usd_per_month: float
    usd_per_million_output_tokens: float  # the whole fleet's cost per million output tokens
    usd_per_million_tokens: float  # per million input + output tokens
    usd_per_million_input_tokens_split: float  # the prefill share of the GPU time, per million input tokens
    usd_per_million_output_tokens_split: float  # the decode share, per million output tokens
    usd_per_request: float
    utilisation: float  # the traffic as a share of the fleet's sustainable rate
    joules_per_output_token: float  # GPU board energy at TDP x utilisation (x PUE when owned)


def fleet_cost(
    num_gpus: float,
    usd_per_gpu_hour: float,
    rate_rps: float,
    mean_isl: float,
    mean_osl: float,
    fleet_capacity_rps: float,
    prefill_share: float,
    tdp_w: float,
    pue: float = 1.0,
) -> FleetCost:
    """The cost of `num_gpus` GPUs serving `rate_rps` requests/s of the given mean lengths.

    `fleet_capacity_rps`: what the fleet could sustain (for its utilisation); `prefill_share`:
    the share of GPU time spent on prompts, which splits the cost between input and output tokens.
    """
    usd_h = num_gpus * usd_per_gpu_hour
    out_per_h = rate_rps * mean_osl * 3600.0
    in_per_h = rate_rps * mean_isl * 3600.0
    util = min(rate_rps / fleet_capacity_rps, 1.0) if fleet_capacity_rps > 0 else math.nan
    share = min(max(prefill_share, 0.0), 1.0)
    watts = num_gpus * tdp_w * (util if math.isfinite(util) else 1.0) * pue
    return FleetCost(
        usd_per_hour=usd_h,
        usd_per_month=usd_h * HOURS_PER_MONTH,
        usd_per_million_output_tokens=usd_h / out_per_h * 1e6 if out_per_h else math.nan,
        usd_per_million_tokens=usd_h / (out_per_h + in_per_h) * 1e6 if out_per_h + in_per_h else math.nan,
        usd_per_million_input_tokens_split=usd_h * share / in_per_h * 1e6 if in_per_h else math.nan,
        usd_per_million_output_tokens_split=usd_h * (1 - share) / out_per_h * 1e6 if out_per_h else math.nan,
        usd_per_request=usd_h / (rate_rps * 3600.0) if rate_rps else math.nan,
        utilisation=util,
        joules_per_output_token=watts / (rate_rps * mean_osl) if rate_rps * mean_osl else math.nan,
    )
