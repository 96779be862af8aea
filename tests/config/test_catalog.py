"""The model catalog: required models, exact prices, alias resolution, and errors that name the bad key."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CAPTURE_DIR, ROOT
from sentra_openai.catalog import (
    TIERS,
    Catalog,
    CatalogError,
    EmbeddingLatency,
    ImageLatency,
    PatchRule,
    TextLatency,
    TileRule,
)

CONFIG = ROOT / "config" / "models.yaml"

REQUIRED = {
    "chat": [
        "gpt-4o", "gpt-4o-mini", "gpt-4-turbo", "gpt-4", "gpt-3.5-turbo", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano",
        "o1", "o3", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano",
    ],
    "completion": ["gpt-3.5-turbo-instruct", "davinci-002", "babbage-002"],
    "embedding": ["text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"],
    "image": ["dall-e-2", "dall-e-3"],
}

catalog = Catalog.default()


@pytest.mark.parametrize(("kind", "name"), [(k, n) for k, names in REQUIRED.items() for n in names])
def test_every_required_model_is_present_with_its_kind(kind: str, name: str) -> None:
    info = catalog.get(name)
    assert info is not None and info.id == name and info.kind == kind


def test_default_catalog_is_the_packaged_config_file() -> None:
    assert [m.id for m in catalog.models()] == [m.id for m in Catalog.load(CONFIG).models()]
    assert Catalog.default() is catalog  # loaded once per process




# ----------------------------------------------------------------------------------------- prices


@pytest.mark.parametrize(
    ("name", "input_usd", "cached_usd", "output_usd"),
    [  # tokens-pricing.md §3, USD per 1M tokens
        ("gpt-4o", "2.50", "1.25", "10.00"),
        ("gpt-4o-mini", "0.15", "0.075", "0.60"),
        ("gpt-4.1-nano", "0.10", "0.025", "0.40"),
        ("o4-mini", "1.10", "0.275", "4.40"),
        ("gpt-5-nano", "0.05", "0.005", "0.40"),
        ("gpt-4", "30.00", None, "60.00"),
        ("text-embedding-3-small", "0.02", None, "0"),
    ],
)
def test_prices_are_exact_micro_dollars(name: str, input_usd: str, cached_usd: str | None, output_usd: str) -> None:
    prices = catalog[name].prices
    assert prices.input_micros == int(Decimal(input_usd) * 1_000_000)
    assert prices.output_micros == int(Decimal(output_usd) * 1_000_000)
    if cached_usd is None:
        assert prices.cached_input is None and prices.cached_input_micros is None
    else:
        assert prices.cached_input_micros == int(Decimal(cached_usd) * 1_000_000)


def test_every_price_string_round_trips_to_its_micros() -> None:
    for info in catalog:
        prices = info.prices
        for text, micros in [(prices.input, prices.input_micros), (prices.output, prices.output_micros),
                             (prices.cached_input, prices.cached_input_micros)]:
            if text is not None:
                assert Decimal(micros) / 1_000_000 == Decimal(text), info.id


def test_dall_e_prices_per_image() -> None:
    dalle3 = catalog["dall-e-3"].image_prices
    assert dalle3["hd"]["1792x1024"].usd == "0.120" and dalle3["hd"]["1792x1024"].micros == 120_000
    assert dalle3["standard"]["1024x1024"].micros == 40_000
    assert catalog["dall-e-2"].image_prices["standard"]["256x256"].micros == 16_000


# ----------------------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("requested", "entry", "echo"),
    [
        ("gpt-4o", "gpt-4o", "gpt-4o-2024-08-06"),
        ("gpt-4o-2024-11-20", "gpt-4o", "gpt-4o-2024-11-20"),  # a dated alias echoes itself
        ("gpt-4", "gpt-4", "gpt-4-0613"),
        ("gpt-4-0613", "gpt-4", "gpt-4-0613"),
        ("gpt-5-nano-2025-08-07", "gpt-5-nano", "gpt-5-nano-2025-08-07"),
        ("babbage:2023-07-21-v2", "babbage-002", "babbage:2023-07-21-v2"),
    ],
)
def test_aliases_and_snapshots_resolve(requested: str, entry: str, echo: str) -> None:
    assert catalog[requested].id == entry
    assert catalog.echo_model(requested) == echo
    assert requested in catalog.names()


def test_unknown_models_are_not_found() -> None:
    assert catalog.get("gpt-4.1-nano-wrong") is None  # the capture chat-unknown-model's id
    assert catalog.echo_model("gpt-4.1-nano-wrong") is None
    assert "gpt-4.1-nano-wrong" not in catalog
    with pytest.raises(KeyError):
        catalog["gpt-4.1-nano-wrong"]


def _captures() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(CAPTURE_DIR.glob("*.json"))]


def test_captured_responses_echo_the_catalog_snapshot() -> None:
    seen = 0
    for capture in _captures():
        body = capture["response"]["body"]
        if isinstance(body, dict) and "model" in body:
            assert catalog.echo_model(capture["request"]["body"]["model"]) == body["model"]
            seen += 1
    assert seen >= 8


def test_tier1_limits_match_the_captured_rate_limit_headers() -> None:
    # the captures come from one tier-1 account; their x-ratelimit-limit-* headers are the real tier-1 limits
    seen = set()
    for capture in _captures():
        headers = capture["response"]["headers"]
        if "x-ratelimit-limit-requests" not in headers:
            continue
        limits = catalog[capture["request"]["body"]["model"]].tier_limits("tier1")
        assert limits.rpm == int(headers["x-ratelimit-limit-requests"])
        assert limits.tpm == int(headers["x-ratelimit-limit-tokens"])
        seen.add(capture["request"]["body"]["model"])
    assert {"gpt-5-nano", "babbage-002", "text-embedding-3-small"} <= seen


# ----------------------------------------------------------------------------------------- shapes


def test_every_model_has_the_shape_its_kind_needs() -> None:
    for info in catalog:
        assert set(info.limits) == set(TIERS)
        assert info.created > 1_600_000_000 and info.owned_by
        if info.kind in ("chat", "completion"):
            assert isinstance(info.latency, TextLatency)
            assert 0 < info.default_max_output_estimate <= info.max_output <= info.context_window
            assert info.latency.ttft_p95_s >= info.latency.ttft_median_s
            assert (info.latency.reasoning_delay_s > 0) == info.reasoning
        if info.kind == "chat":
            assert info.prompt_format is not None
            assert info.prompt_format.name == ("harmony" if info.reasoning else "cookbook")
        if info.kind == "embedding":
            assert isinstance(info.latency, EmbeddingLatency) and info.embedding.dimensions > 0
            assert info.prices.output_micros == 0
        if info.kind == "image":
            assert isinstance(info.latency, ImageLatency) and info.encoding is None
            for quality, sizes in (info.image_prices or info.image_output_tokens).items():  # dall-e | GPT-image
                assert set(sizes) <= set(info.latency.seconds_per_image[quality])
                assert all(info.tier_limits(t) is None or info.tier_limits(t).ipm for t in TIERS)
        if info.tier_limits("tier1") is not None:
            assert info.tier_limits("tier1").rpm and (info.tier_limits("tier1").tpm or info.kind == "image")


def test_reasoning_models_are_the_o_series_and_the_gpt_5_and_6_families() -> None:
    reasoning = {info.id for info in catalog if info.reasoning}
    assert {"o1", "o3", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-6-astra", "gpt-5.6-luna"} <= reasoning
    assert all(name.startswith(("o", "gpt-5", "gpt-6", "gpt-daybreak", "gpt-rosalind", "codex")) for name in reasoning)
    assert not {"gpt-4o", "gpt-4.1", "gpt-3.5-turbo", "computer-use-preview"} & reasoning


def test_image_token_rules() -> None:
    assert catalog["gpt-4o"].image_tokens == TileRule(base=85, per_tile=170)
    assert catalog["gpt-5"].image_tokens == TileRule(base=70, per_tile=140)
    nano = catalog["gpt-5-nano"].image_tokens
    assert isinstance(nano, PatchRule) and nano.multiplier * 100 == 246 and nano.budget == 1536
    assert catalog["gpt-3.5-turbo"].image_tokens is None


def test_embedding_default_dimensions() -> None:
    assert catalog["text-embedding-3-small"].embedding.dimensions == 1536
    assert catalog["text-embedding-3-large"].embedding.dimensions == 3072
    assert catalog["text-embedding-3-large"].has("dimensions")
    assert not catalog["text-embedding-ada-002"].has("dimensions")


def test_unknown_tier_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="tier6"):
        catalog["gpt-4o"].tier_limits("tier6")


def test_limits_without_a_tier_mean_not_served() -> None:
    assert catalog["gpt-4o"].tier_limits("free") is None
    assert catalog["gpt-4o-mini"].tier_limits("tier1").rpd == 10_000


# ----------------------------------------------------------------------------------------- errors


def _document() -> dict[str, Any]:
    return yaml.safe_load(CONFIG.read_text())


def _load_broken(tmp_path: Path, document: Any) -> CatalogError:
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False) if not isinstance(document, str) else document)
    with pytest.raises(CatalogError) as caught:
        Catalog.load(path)
    assert str(caught.value).startswith("models.yaml: ")
    return caught.value


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d["models"]["gpt-4o"]["prices"].update(input=2.5), "gpt-4o.prices.input: expected a decimal string"),
        (lambda d: d["models"]["gpt-4o"]["prices"].update(input="0.0000001"), "gpt-4o.prices.input: expected a decimal string with at most 6 decimals"),
        (lambda d: d["models"]["gpt-4o"]["prices"].update(output="-1"), "gpt-4o.prices.output"),
        (lambda d: d["models"]["o3"]["prices"].pop("cached_input"), "o3.prices.cached_input: missing required key"),
        (lambda d: d["models"]["gpt-4o"].update(kind="audio"), "gpt-4o.kind: expected one of"),
        (lambda d: d["models"]["gpt-4o"].update(encoding="p50k_base"), "gpt-4o.encoding"),
        (lambda d: d["models"]["gpt-4o"].update(context_windw=5), "gpt-4o.context_windw: unknown key"),
        (lambda d: d["models"]["gpt-4o"].update(created=True), "gpt-4o.created: expected an integer"),
        (lambda d: d["models"]["gpt-4o"]["limits"].update(tier9={"rpm": 1}), "gpt-4o.limits.tier9: unknown key"),
        (lambda d: d["models"]["gpt-4o"]["limits"]["tier1"].update(rpm="500"), "gpt-4o.limits.tier1.rpm: expected an integer"),
        (lambda d: d["models"]["gpt-4o"]["latency"].update(ttft_p95_s=0.1), "gpt-4o.latency.ttft_p95_s: must be >="),
        (lambda d: d["models"]["gpt-5"]["latency"].pop("reasoning_delay_s"), "gpt-5.latency.reasoning_delay_s: missing"),
        (lambda d: d["models"]["gpt-4o"].update(prompt_format="chatml"), "gpt-4o.prompt_format: expected one of"),
        (lambda d: d["models"]["gpt-5-nano"]["image_tokens"].update(multiplier=2.46), "gpt-5-nano.image_tokens.multiplier"),
        (lambda d: d["models"]["dall-e-3"]["image_prices"]["hd"].update({"big": "0.1"}), "dall-e-3.image_prices.hd.big"),
        (lambda d: d["models"]["gpt-4"].update(aliases=["gpt-4o-2024-08-06"]), "gpt-4: name 'gpt-4o-2024-08-06' is already used by gpt-4o"),
        (lambda d: d["prompt_formats"]["harmony"]["tools"].update(dialect="xml"), "prompt_formats.harmony.tools.dialect"),
        (lambda d: d.pop("models"), "models: missing required key"),
    ],
)
def test_bad_catalogs_name_the_key(tmp_path: Path, edit, expected: str) -> None:
    document = _document()
    edit(document)
    error = _load_broken(tmp_path, document)
    assert expected in str(error), str(error)


def test_invalid_yaml_is_a_catalog_error(tmp_path: Path) -> None:
    assert "not valid YAML" in str(_load_broken(tmp_path, "models: [unclosed"))


def test_a_missing_file_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        Catalog.load(tmp_path / "nope.yaml")


def test_catalog_error_is_a_value_error() -> None:
    assert issubclass(CatalogError, ValueError)
