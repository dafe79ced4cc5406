"""JSON Schema validation of a policy's config, worded as the Pulumi CLI prints it.

The engine validates each policy's config with gojsonschema (pulumi/pulumi
pkg/resource/analyzer/config.go, validatePolicyConfig) and prints each error's String(),
`<field>: <description>`, with a leading `(root): ` trimmed. Validation here is the `jsonschema`
library's; the errors it finds are reported where gojsonschema reports them and in its words
(github.com/xeipuuv/gojsonschema: validation.go says which errors, locales.go their wording,
errors.go and result.go the `<field>: <description>` form).

Deliberate differences: the schema is read as draft-07 unless it names its `$schema`
(gojsonschema's default "hybrid" mode also accepts draft-04's boolean exclusiveMinimum and
exclusiveMaximum); `pattern` is a Python regular expression, not RE2; `format` checks only the
formats `jsonschema` can check with what is installed. When no branch of an anyOf or oneOf
matches, gojsonschema adds the errors of the branch that "scores" best (got furthest); here, of the
first branch whose type the value has, with the fewest errors. An invalid schema is reported with
`jsonschema`'s message.
"""

from __future__ import annotations

import decimal
import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
from jsonschema import Draft7Validator, ValidationError
from jsonschema.exceptions import SchemaError

_ROOT = "(root)"


def config_errors(schema: dict, document: Any) -> list[str]:
    """Every error of `document` against `schema`, as the engine words it (`(root): ` trimmed).

    Raises jsonschema.exceptions.SchemaError when the schema itself is invalid."""
    validator_class = _go_validator(jsonschema.validators.validator_for(schema, default=Draft7Validator))
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    errors = _as_gojsonschema_reports(list(validator.iter_errors(document)))
    return [_text(error).removeprefix(f"{_ROOT}: ") for error in errors]


__all__ = ["SchemaError", "config_errors"]


# --- rendering: gojsonschema's ResultErrorFields.String(), `{{.field}}: {{.description}}` -----------------


class _Worded(ValidationError):
    """An error whose message is already gojsonschema's description."""


def _field(error: ValidationError) -> str:
    # JsonContext.String() joined by "." from "(root)", then Field() trims the "(root)." prefix.
    return ".".join(str(part) for part in error.absolute_path) or _ROOT


def _text(error: ValidationError) -> str:
    field = _field(error)
    description = error.message if isinstance(error, _Worded) else _description(error, field)
    return f"{field}: {description}"


def _description(error: ValidationError, field: str) -> str:
    keyword, expected, value = error.validator, error.validator_value, error.instance
    if keyword == "type":
        types = expected if isinstance(expected, list) else [expected]
        shown = types[0] if len(types) == 1 else f"[{','.join(types)}]"
        return f"Invalid type. Expected: {shown}, given: {_json_type(value)}"
    if keyword == "enum":
        return f"{field} must be one of the following: {', '.join(_go_json(option) for option in expected)}"
    if keyword == "const":
        return f"{field} does not match: {_go_json(expected)}"
    if keyword == "format":
        return f"Does not match format '{expected}'"
    if keyword == "pattern":
        return f"Does not match pattern '{expected}'"
    counted = {
        "minLength": "String length must be greater than or equal to {}",
        "maxLength": "String length must be less than or equal to {}",
        "minItems": "Array must have at least {} items",
        "maxItems": "Array must have at most {} items",
        "minProperties": "Must have at least {} properties",
        "maxProperties": "Must have at most {} properties",
    }
    if keyword in counted:
        return counted[keyword].format(int(expected))
    bounds = {
        "minimum": "Must be greater than or equal to {}",
        "maximum": "Must be less than or equal to {}",
        "exclusiveMinimum": "Must be greater than {}",
        "exclusiveMaximum": "Must be less than {}",
        "multipleOf": "Must be a multiple of {}",
    }
    if keyword in bounds:
        return bounds[keyword].format(_go_float(expected))
    if keyword == "additionalItems":
        return "No additional items allowed on array"
    if expected is False or keyword is None:  # a `false` schema
        return "False always fails validation"
    return error.message  # a keyword gojsonschema does not know: jsonschema's own words


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "integer" if float(value).is_integer() else "number"  # gojsonschema's checkJSONInteger
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _go_float(number: float) -> str:
    """big.Float's String(): `%g` with 10 significant digits."""
    return format(number, ".10g")


def _go_json(value: Any) -> str:
    """Go's json.Marshal of a decoded JSON value: sorted keys, no spaces, whole numbers without ".0",
    <, > and & escaped."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return _go_number(value)
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                              ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
            text = text.replace(char, escaped)
        return text
    if isinstance(value, list):
        return "[" + ",".join(_go_json(item) for item in value) + "]"
    items = sorted(value.items())
    return "{" + ",".join(f"{_go_json(str(key))}:{_go_json(item)}" for key, item in items) + "}"


def _go_number(number: float) -> str:
    # encoding/json floatEncoder: shortest digits, fixed notation for 1e-6 <= |x| < 1e21, else e-notation
    # with a one-digit exponent kept one digit ("1e-7").
    if isinstance(number, int):
        return str(number)
    magnitude = abs(number)
    if magnitude == 0 or 1e-6 <= magnitude < 1e21:
        text = format(decimal.Decimal(repr(number)), "f")
        return text.removesuffix(".0") if "." in text and text.endswith(".0") else text
    return re.sub(r"e([+-])0(\d)$", r"e\1\2", repr(number))


# --- which errors: the keywords whose errors gojsonschema reports differently -------------------------


def _required(validator, required, instance, schema) -> Iterator[ValidationError]:
    if validator.is_type(instance, "object"):
        for name in required:
            if name not in instance:
                yield _Worded(f"{name} is required")


def _additional_properties(validator, allowed, instance, schema) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    patterns = list(schema.get("patternProperties") or {})
    properties = schema.get("properties") or {}
    for name in instance:
        if name in properties or any(re.search(pattern, name) for pattern in patterns):
            continue
        if allowed is False:
            yield _Worded(f"Additional property {name} is not allowed")
        elif isinstance(allowed, dict):
            yield from validator.descend(instance[name], allowed, path=name)


def _unique_items(validator, unique, instance, schema) -> Iterator[ValidationError]:
    if not unique or not validator.is_type(instance, "array"):
        return
    last_index: dict[str, int] = {}
    for index, item in enumerate(instance):
        key = _go_json(item)
        if key in last_index:
            yield _Worded(f"array items[{last_index[key]},{index}] must be unique")
        last_index[key] = index


def _branch_errors(validator, instance, subschema, index) -> list[ValidationError]:
    return _as_gojsonschema_reports(list(validator.descend(instance, subschema, schema_path=index)))


def _closest_branch(validator, instance, branches: list[tuple[dict, list[ValidationError]]]) -> list:
    """The failing branch gojsonschema would most likely call closest (see the module docstring)."""
    def rank(branch: tuple[dict, list[ValidationError]]) -> tuple[int, int]:
        subschema, errors = branch
        declared = subschema.get("type") if isinstance(subschema, dict) else None
        types = declared if isinstance(declared, list) else [declared] if declared else []
        type_matches = not types or any(validator.is_type(instance, name) for name in types)
        return (0 if type_matches else 1, len(errors))
    return min(branches, key=rank)[1] if branches else []


def _any_of(validator, branches, instance, schema) -> Iterator[ValidationError]:
    failed = []
    for index, subschema in enumerate(branches):
        errors = _branch_errors(validator, instance, subschema, index)
        if not errors:
            return
        failed.append((subschema, errors))
    yield _Worded("Must validate at least one schema (anyOf)")
    yield from _closest_branch(validator, instance, failed)


def _one_of(validator, branches, instance, schema) -> Iterator[ValidationError]:
    failed, valid = [], 0
    for index, subschema in enumerate(branches):
        errors = _branch_errors(validator, instance, subschema, index)
        if errors:
            failed.append((subschema, errors))
        else:
            valid += 1
    if valid != 1:
        yield _Worded("Must validate one and only one schema (oneOf)")
        if valid == 0:
            yield from _closest_branch(validator, instance, failed)


def _all_of(validator, branches, instance, schema) -> Iterator[ValidationError]:
    failed = False
    for index, subschema in enumerate(branches):
        errors = _branch_errors(validator, instance, subschema, index)
        failed = failed or bool(errors)
        yield from errors
    if failed:
        yield _Worded("Must validate all the schemas (allOf)")


def _not(validator, subschema, instance, schema) -> Iterator[ValidationError]:
    if validator.evolve(schema=subschema).is_valid(instance):
        yield _Worded("Must not validate the schema (not)")


def _contains(validator, subschema, instance, schema) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "array"):
        return
    failed = []
    for index, item in enumerate(instance):
        errors = _as_gojsonschema_reports(list(validator.descend(item, subschema, path=index)))
        if not errors:
            return
        failed.append((subschema, errors))
    yield _Worded("At least one of the items must match")
    yield from _closest_branch(validator, instance, failed)


def _property_names(validator, subschema, instance, schema) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for name in instance:
        errors = _as_gojsonschema_reports(list(validator.descend(name, subschema)))
        if errors:
            yield _Worded(f'Property name of "{name}" does not match')
            yield from errors


def _if(validator, condition, instance, schema) -> Iterator[ValidationError]:
    branch = "then" if validator.evolve(schema=condition).is_valid(instance) else "else"
    if branch in schema:
        errors = _as_gojsonschema_reports(list(validator.descend(instance, schema[branch], schema_path=branch)))
        if errors:
            yield _Worded(f'Must validate "{branch}" as "if" was {"valid" if branch == "then" else "not valid"}')
            yield from errors


def _dependencies(validator, dependencies, instance, schema) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for name, dependency in dependencies.items():
        if name not in instance:
            continue
        if isinstance(dependency, list):
            for needed in dependency:
                if needed not in instance:
                    yield _Worded(f"Has a dependency on {needed}")
        else:
            yield from validator.descend(instance, dependency, schema_path=name)


_KEYWORDS = {
    "required": _required,
    "additionalProperties": _additional_properties,
    "uniqueItems": _unique_items,
    "anyOf": _any_of,
    "oneOf": _one_of,
    "allOf": _all_of,
    "not": _not,
    "contains": _contains,
    "propertyNames": _property_names,
    "if": _if,
    "dependencies": _dependencies,
}
_VALIDATORS: dict[type, type] = {}


def _go_validator(base: type) -> type:
    if base not in _VALIDATORS:
        overrides = {keyword: check for keyword, check in _KEYWORDS.items() if keyword in base.VALIDATORS}
        _VALIDATORS[base] = jsonschema.validators.extend(base, overrides)
    return _VALIDATORS[base]


def _as_gojsonschema_reports(errors: list[ValidationError]) -> list[ValidationError]:
    """Drop what gojsonschema never checks: once a value has the wrong type for a schema, no other
    keyword of that schema (nor anything below it) is validated against the value."""
    mismatches = [(tuple(e.absolute_path), tuple(e.absolute_schema_path)[:-1])
                  for e in errors if e.validator == "type" and not isinstance(e, _Worded)]
    if not mismatches:
        return errors

    def hidden(error: ValidationError) -> bool:
        if error.validator == "type" and not isinstance(error, _Worded):
            return False
        path, schema_path = tuple(error.absolute_path), tuple(error.absolute_schema_path)
        return any(path[:len(where)] == where and schema_path[:len(schema)] == schema
                   for where, schema in mismatches)

    return [error for error in errors if not hidden(error)]
