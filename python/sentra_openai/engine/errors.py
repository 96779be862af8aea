"""OpenAI's error envelope and the exact messages of its validation errors.

Sources: shared/reference/openai-wire.md §2 (real captures in shared/data/captures and third-party raw bodies).
"""

from __future__ import annotations

from typing import Any

import orjson

INVALID_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library "
    "correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble "
    "figuring out how to fix this, please contact us through our help center at help.openai.com.)"
)
NO_API_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth "
    "(i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API "
    "from your browser and are prompted for a username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)
SERVER_ERROR_MESSAGE = "The server had an error while processing your request. Sorry about that!"
OVERLOADED_MESSAGE = (
    "That model is currently overloaded with other requests. You can retry your request, or contact us through our "
    "help center at help.openai.com if the error persists. (Please include the request ID {request_id} in your message.)"
)


class ApiError(Exception):
    """An error answered with OpenAI's envelope `{"error": {"message", "type", "param", "code"}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | int | None = None,
        *,
        headers: dict[str, str] | None = None,
        bare: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}
        # OpenAI answers some errors (404 model_not_found) from an outer layer: 4-space JSON, a trailing newline,
        # a charset in the content type and none of the openai-* / x-ratelimit-* headers.
        self.bare = bare

    def envelope(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def body(self) -> bytes:
        if self.bare:
            import json  # 4-space indentation is not an orjson option; this path is rare

            return (json.dumps(self.envelope(), indent=4, ensure_ascii=False) + "\n").encode()
        return orjson.dumps(self.envelope(), option=orjson.OPT_INDENT_2)

    def content_type(self) -> str:
        return "application/json; charset=utf-8" if self.bare else "application/json"


# ---- the validation messages, each as OpenAI words it -------------------------------------------------------------


def json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "an unknown type"


def invalid_json() -> ApiError:
    return ApiError(400, INVALID_JSON_MESSAGE)


def missing_parameter(param: str) -> ApiError:
    return ApiError(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


def missing_model() -> ApiError:
    return ApiError(400, "you must provide a model parameter")


def invalid_type(param: str, expected: str, value: Any) -> ApiError:
    return ApiError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {json_type_name(value)} instead.",
        param=param,
        code="invalid_type",
    )


def below_minimum(param: str, minimum: float, value: float, kind: str = "integer") -> ApiError:
    """`kind` is the field's type as OpenAI names it: "integer" or "decimal"."""
    return ApiError(
        400,
        f"Invalid '{param}': {kind} below minimum value. Expected a value >= {_num(minimum)}, but got {_num(value)} instead.",
        param=param,
        code=f"{kind}_below_min_value",
    )


def above_maximum(param: str, maximum: float, value: float, kind: str = "integer") -> ApiError:
    return ApiError(
        400,
        f"Invalid '{param}': {kind} above maximum value. Expected a value <= {_num(maximum)}, but got {_num(value)} instead.",
        param=param,
        code=f"{kind}_above_max_value",
    )


def empty_array(param: str) -> ApiError:
    return ApiError(
        400,
        f"Invalid '{param}': empty array. Expected an array with minimum length 1, but got an empty array instead.",
        param=param,
        code="empty_array",
    )


def array_too_long(param: str, maximum: int, length: int) -> ApiError:
    return ApiError(
        400,
        f"Invalid '{param}': array too long. Expected an array with maximum length {maximum}, but got an array with length {length} instead.",
        param=param,
        code="array_above_max_length",
    )


def string_too_long(param: str, maximum: int, length: int) -> ApiError:
    return ApiError(
        400,
        f"Invalid '{param}': string too long. Expected a string with maximum length {maximum}, but got a string with length {length} instead.",
        param=param,
        code="string_above_max_length",
    )


def empty_string(param: str) -> ApiError:
    return ApiError(
        400,
        f"Invalid '{param}': empty string. Expected a string with minimum length 1, but got an empty string instead.",
        param=param,
        code="empty_string",
    )


def invalid_value(param: str, value: Any, supported: list[str]) -> ApiError:
    listed = ", ".join(f"'{s}'" for s in supported[:-1]) + f", and '{supported[-1]}'" if len(supported) > 1 else f"'{supported[0]}'"
    return ApiError(
        400,
        f"Invalid value: '{value}'. Supported values are: {listed}.",
        param=param,
        code="invalid_value",
    )


def unsupported_parameter(param: str, hint: str = "") -> ApiError:
    message = f"Unsupported parameter: '{param}' is not supported with this model."
    return ApiError(400, f"{message} {hint}".strip(), param=param, code="unsupported_parameter")


def unsupported_value(param: str, message: str) -> ApiError:
    return ApiError(400, f"Unsupported value: {message}", param=param, code="unsupported_value")


def unrecognized_argument(name: str) -> ApiError:
    return ApiError(400, f"Unrecognized request argument supplied: {name}")


def unknown_parameter(param: str) -> ApiError:
    """The Responses API family's wording for a field it does not know (openai-wire.md, error table), nested fields
    named by their path (`reasoning.bogus`)."""
    return ApiError(400, f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter")


def legacy_context_exceeded(limit: int, prompt_tokens: int, completion_tokens: int) -> ApiError:
    """The older wording the completions and embeddings endpoints still use (no param, no code)."""
    return ApiError(
        400,
        f"This model's maximum context length is {limit} tokens, however you requested "
        f"{prompt_tokens + completion_tokens} tokens ({prompt_tokens} in your prompt; {completion_tokens} for the "
        "completion). Please reduce your prompt; or completion length.",
    )


def invalid_token(token: int, highest: int) -> ApiError:
    return ApiError(400, f"Invalid token in prompt: {token}. Minimum value is 0, maximum value is {highest} (inclusive).")


def model_not_found(model: str) -> ApiError:
    return ApiError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        param=None,
        code="model_not_found",
        bare=True,
    )


def invalid_url(method: str, path: str) -> ApiError:
    return ApiError(404, f"Invalid URL ({method} {path})")


def invalid_method(method: str, path: str) -> ApiError:
    return ApiError(405, f"Invalid method for URL ({method} {path})")


def body_too_large(limit: int) -> ApiError:
    return ApiError(413, f"Request body too large. The maximum request body size is {limit} bytes.", code="request_too_large")


def incorrect_api_key(key: str) -> ApiError:
    return ApiError(
        401,
        f"Incorrect API key provided: {mask_api_key(key)}. You can find your API key at https://platform.openai.com/account/api-keys.",
        code="invalid_api_key",
    )


def missing_api_key() -> ApiError:
    return ApiError(401, NO_API_KEY_MESSAGE)


def mask_api_key(key: str) -> str:
    """Short keys are echoed; longer ones keep 8 leading and 4 trailing characters (openai-wire.md §2.2)."""
    if len(key) <= 11:
        return key
    return key[:8] + "*" * (len(key) - 12) + key[-4:]


def server_error() -> ApiError:
    return ApiError(500, SERVER_ERROR_MESSAGE, type="server_error")


def overloaded(request_id: str) -> ApiError:
    return ApiError(503, OVERLOADED_MESSAGE.format(request_id=request_id.removeprefix("req_")), type="server_error")


def _num(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)
