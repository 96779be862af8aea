"""Configuration: defaults < mode preset < --config file < environment < CLI flags, resolved into one frozen Settings.

config/default.yaml is both the defaults and the schema: a key it does not have is rejected, and a value must have the
type of its default. Errors name the file and the dotted key, never a traceback.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

MODES = ("default", "production", "fast", "debug")
TIERS = ("free", "tier1", "tier2", "tier3", "tier4", "tier5")
STORES = ("memory", "shm", "redis")
STATE_STORES = ("memory", "sqlite", "redis")
LOG_LEVELS = ("debug", "info", "warning", "error")

# Maps whose keys are the user's (model ids, status codes): their entries are not checked against default.yaml.
_OPEN_MAPS = {"rate_limiting.overrides", "error_injection.weights", "error_injection.per_model", "azure.deployments"}
# Keys whose default is null but which take a value of this type.
_NULLABLE = {
    "models.catalog": str,
    "server.organization_id": str,
    "rate_limiting.redis_url": str,
    "rate_limiting.shm_path": str,
    "state.path": str,
    "state.redis_url": str,
    "control.token": str,
    "recording.dir": str,
    "recording.upstream": str,
}

ENV_VARS = {
    "PORT": "server.port",
    "METRICS_PORT": "metrics.port",
    "LOG_LEVEL": "logging.level",
    "REDIS_URL": "rate_limiting.redis_url",
    "SENTRA_SEED": "seed",
    "SENTRA_MODELS_AS_OF": "models.as_of",
    "SENTRA_STATE_PATH": "state.path",
}


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type; the message names where."""


def package_dir() -> Path:
    return Path(str(resources.files("sentra_openai")))


def config_dir() -> Path:
    return package_dir() / "config"


# --------------------------------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    processes: int
    max_body_bytes: int
    organization: str
    organization_id: str | None  # the `org-…` id of rate-limit messages; null: derived from `organization`
    project: str
    drain_seconds: float
    idle_timeout_seconds: float
    header_timeout_seconds: float
    body_timeout_seconds: float
    send_timeout_seconds: float
    keepalive_requests: int
    max_connections: int
    front_replay: bool  # the front may answer repeats of pure answers itself (engine/replay.py)


@dataclass(frozen=True)
class AuthSettings:
    require_api_key: bool
    api_keys: tuple[str, ...]


@dataclass(frozen=True)
class ModelsSettings:
    strict: bool
    fallback: str
    catalog: str | None
    as_of: str  # "today" (the real UTC date) or an ISO date: the day model shutdowns are judged on


@dataclass(frozen=True)
class RateLimitSettings:
    enable: bool
    default_tier: str
    store: str
    redis_url: str | None
    redis_failure_policy: str
    shm_path: str | None
    token_charge: str
    overrides: Mapping[str, Mapping[str, int | None]]


@dataclass(frozen=True)
class LatencySettings:
    enable: bool
    time_scale: float


@dataclass(frozen=True)
class ErrorInjectionSettings:
    enable: bool
    base_error_rate: float
    weights: Mapping[str, float]
    per_model: Mapping[str, Mapping[str, Any]]
    burst_window_seconds: float
    burst_threshold_rps: float
    burst_multiplier: float
    midstream_rate: float


@dataclass(frozen=True)
class PromptCachingSettings:
    enable: bool
    min_tokens: int
    increment: int
    ttl_seconds: float


@dataclass(frozen=True)
class MetricsSettings:
    enable: bool
    port: int


@dataclass(frozen=True)
class LoggingSettings:
    level: str
    request_log: bool
    log_bodies: bool


@dataclass(frozen=True)
class FixtureSettings:
    paths: tuple[str, ...]
    moderation_paths: tuple[str, ...]


@dataclass(frozen=True)
class StateSettings:
    store: str
    path: str | None
    synchronous: str
    redis_url: str | None
    ttl_seconds: float


@dataclass(frozen=True)
class ControlSettings:
    token: str | None
    request_log: bool
    max_logged_requests: int


@dataclass(frozen=True)
class AzureSettings:
    deployments: Mapping[str, str]
    region: str


@dataclass(frozen=True)
class RecordingSettings:
    dir: str | None
    upstream: str | None
    timeout_seconds: float


@dataclass(frozen=True)
class Settings:
    mode: str
    seed: int
    server: ServerSettings
    auth: AuthSettings
    models: ModelsSettings
    rate_limiting: RateLimitSettings
    latency: LatencySettings
    error_injection: ErrorInjectionSettings
    prompt_caching: PromptCachingSettings
    metrics: MetricsSettings
    logging: LoggingSettings
    fixtures: FixtureSettings
    state: StateSettings
    control: ControlSettings
    azure: AzureSettings
    recording: RecordingSettings
    sources: tuple[str, ...] = field(default=(), compare=False)

    @property
    def effective_time_scale(self) -> float:
        return self.latency.time_scale if self.latency.enable else 0.0

    def fixture_paths(self) -> list[Path]:
        """Relative paths resolve against the working directory, then against the installed package."""
        return _resolve_paths(self.fixtures.paths)

    def moderation_fixture_paths(self) -> list[Path]:
        """The moderation fixture files and folders, resolved as `fixture_paths`."""
        return _resolve_paths(self.fixtures.moderation_paths)


def _resolve_paths(paths: tuple[str, ...]) -> list[Path]:
    """Relative paths resolve against the working directory, then against the installed package."""
    resolved = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.is_absolute() and not path.exists():
            path = package_dir() / raw
        resolved.append(path)
    return resolved


_SECTIONS = {
    "server": ServerSettings,
    "auth": AuthSettings,
    "models": ModelsSettings,
    "rate_limiting": RateLimitSettings,
    "latency": LatencySettings,
    "error_injection": ErrorInjectionSettings,
    "prompt_caching": PromptCachingSettings,
    "metrics": MetricsSettings,
    "logging": LoggingSettings,
    "fixtures": FixtureSettings,
    "state": StateSettings,
    "control": ControlSettings,
    "azure": AzureSettings,
    "recording": RecordingSettings,
}


# --------------------------------------------------------------------------------------------------------------------
# Loading and merging


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a mapping"}.get(
        type(value), type(value).__name__
    )


def _check(value: Any, default: Any, key: str, origin: str) -> Any:
    """Returns `value` coerced to the type of `default`, or raises a ConfigError naming `key`."""
    if key in _NULLABLE:
        if value is None or isinstance(value, _NULLABLE[key]):
            return value
        raise ConfigError(f"{origin}: {key}: expected {_type_name(_NULLABLE[key]())} or null, got {value!r}")
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
        if isinstance(value, datetime.date):  # YAML reads an unquoted 2026-12-01 as a date
            return value.isoformat()
    elif isinstance(default, list):
        if isinstance(value, list):
            return value
    elif isinstance(default, dict) and isinstance(value, dict):
        if key in _OPEN_MAPS:
            return value
        return _merge(default, value, key, origin)
    raise ConfigError(f"{origin}: {key}: expected {_type_name(default)}, got {value!r}")


def _merge(base: dict[str, Any], overlay: Mapping[str, Any], prefix: str, origin: str) -> dict[str, Any]:
    merged = dict(base)
    for name, value in overlay.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in base:
            known = ", ".join(sorted(base))
            raise ConfigError(f"{origin}: unknown key {key!r} (known keys here: {known})")
        merged[name] = _check(value, base[name], key, origin)
    return merged


def _set_dotted(overlay: dict[str, Any], dotted: str, value: Any) -> None:
    node = overlay
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def _parse_env_value(raw: str, default: Any, key: str, var: str) -> Any:
    target = _NULLABLE.get(key, type(default))
    try:
        if target is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        return target(raw)
    except ValueError:
        raise ConfigError(f"environment variable {var}: expected {_type_name(target())} for {key}, got {raw!r}") from None


def _lookup(tree: Mapping[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        node = node[part]
    return node


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    mode: str | None = None,
    cli: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolves the layers into Settings. `cli` maps dotted keys (e.g. "server.port") to values given as flags."""
    env = os.environ if environ is None else environ
    cli = dict(cli or {})
    defaults_path = config_dir() / "default.yaml"
    tree = _read_yaml(defaults_path)
    sources = [str(defaults_path)]

    user_path = config_path or env.get("CONFIG_PATH") or None
    user_tree = _read_yaml(Path(user_path)) if user_path else {}

    chosen_mode = mode or env.get("SENTRA_MODE") or user_tree.get("mode") or tree.get("mode") or "default"
    if chosen_mode not in MODES:
        raise ConfigError(f"mode: expected one of {', '.join(MODES)}, got {chosen_mode!r}")
    if chosen_mode != "default":
        preset = config_dir() / f"{chosen_mode}.yaml"
        tree = _merge(tree, _read_yaml(preset), "", str(preset))
        sources.append(str(preset))
    if user_path:
        tree = _merge(tree, user_tree, "", str(user_path))
        sources.append(str(user_path))

    env_overlay: dict[str, Any] = {}
    for var, key in ENV_VARS.items():
        if env.get(var):
            _set_dotted(env_overlay, key, _parse_env_value(env[var], _lookup(tree, key), key, var))
    if env.get("REDIS_URL"):
        # A Redis URL in the environment means the limits are meant to be shared through it (design.md).
        _set_dotted(env_overlay, "rate_limiting.store", "redis")
    if env_overlay:
        tree = _merge(tree, env_overlay, "", "environment")
        sources.append("environment")

    cli_overlay: dict[str, Any] = {}
    for key, value in cli.items():
        if value is not None:
            _set_dotted(cli_overlay, key, value)
    if cli_overlay:
        tree = _merge(tree, cli_overlay, "", "command line")
        sources.append("command line")

    tree["mode"] = chosen_mode
    return _build(tree, tuple(sources))


def _build(tree: dict[str, Any], sources: tuple[str, ...]) -> Settings:
    sections = {}
    for name, cls in _SECTIONS.items():
        values = dict(tree[name])
        for key, value in values.items():
            if isinstance(value, list):
                values[key] = tuple(value)
        sections[name] = cls(**values)
    settings = Settings(mode=tree["mode"], seed=_check(tree["seed"], 0, "seed", "config"), sources=sources, **sections)
    from .config_checks import validate  # it imports this module's names: imported when first needed

    validate(settings)
    return settings


def settings_to_tree(settings: Settings) -> dict[str, Any]:
    """The settings as the mapping they were built from (tuples as lists), to lay an overlay on."""
    import dataclasses

    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        return value

    tree: dict[str, Any] = {"mode": settings.mode, "seed": settings.seed}
    for name in _SECTIONS:
        section = getattr(settings, name)
        tree[name] = {f.name: plain(getattr(section, f.name)) for f in dataclasses.fields(section)}
    return tree


def with_overlay(settings: Settings, overlay: Mapping[str, Any], origin: str) -> Settings:
    """`settings` with `overlay` (a partial tree) laid on it, checked like a config file: the control API's PATCH."""
    tree = _merge(settings_to_tree(settings), overlay, "", origin)
    return _build(tree, settings.sources + (origin,))
