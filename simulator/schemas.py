"""Gelato's request tables as JSON schemas (`schemas/*.schema.json`), checked with `jsonschema`.

One Draft 2020-12 validator per schema, built once at import. `errors(name, instance)` returns
the faults as `(reference, message)` pairs, the reference naming the field at fault the way a
developer reads it (`shippingAddress.state`, `items[0].files[1].type`), the message saying
what Gelato's table asks (`is required for US`, `must be at most 25 characters`).

Formats (`uri`, `email`, `date-time`) are annotations here: the simulator checks URLs and
e-mails itself, Gelato's documented e-mail pattern being garbled (see the schemas' comments).
"""
import json
import os
import re

from jsonschema import Draft202012Validator

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'schemas')
NAMES = ('order_create', 'order_patch', 'order_quote', 'order_search', 'product_prices_query',
         'shipment_prices', 'stock_region_availability')


def _load(name):
    with open(os.path.join(SCHEMA_DIR, f'{name}.schema.json'), encoding='utf-8') as file:
        schema = json.load(file)
    Draft202012Validator.check_schema(schema)
    return schema


SCHEMAS = {name: _load(name) for name in NAMES}
VALIDATORS = {name: Draft202012Validator(schema) for name, schema in SCHEMAS.items()}

_REQUIRED = re.compile(r"^'(?P<name>.+)' is a required property$")
_TYPE_WORDS = {'string': 'a string', 'integer': 'an integer', 'number': 'a number',
               'boolean': 'true or false', 'object': 'an object', 'array': 'a list',
               'null': 'null'}


def reference(path):
    """`['items', 0, 'files', 1, 'url']` -> `items[0].files[1].url`."""
    text = ''
    for part in path:
        text += f'[{part}]' if isinstance(part, int) else (f'.{part}' if text else str(part))
    return text


def _join(ref, name):
    return f'{ref}.{name}' if ref else name


def _resolve(root, ref):
    """A local `$ref` (`#/$defs/Name`) of a schema."""
    node = root
    for part in ref.lstrip('#/').split('/'):
        node = node[part]
    return node


def _if_schema(error, root):
    """The `if` of the innermost `then` an error comes from, or None."""
    node, found = root, None
    for key in error.absolute_schema_path:
        # jsonschema follows a `$ref` without naming it in the path: follow it too.
        while isinstance(node, dict) and key not in node and isinstance(node.get('$ref'), str):
            node = _resolve(root, node['$ref'])
        if key == '$ref' and isinstance(node, dict) and isinstance(node.get('$ref'), str):
            node = _resolve(root, node['$ref'])
            continue
        if key == 'then' and isinstance(node, dict) and isinstance(node.get('if'), dict):
            found = node['if']
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
    return found


def _condition(error):
    """Why a conditional rule applies, from the `if` of the `then` the error comes from:
    `for US`, `for BR when isBusiness is true`, `when stateTaxId is given`."""
    condition = _if_schema(error, error._root_schema)
    if condition is None:
        return ''
    instance = error.instance if error.validator == 'required' else error._owner
    parts = []
    for name, rule in (condition.get('properties') or {}).items():
        value = instance.get(name) if isinstance(instance, dict) else None
        if name == 'country':
            parts.insert(0, f'for {value}')
        elif isinstance(rule, dict) and ('const' in rule or 'enum' in rule):
            parts.append(f'when {name} is {json.dumps(value)}')
    for name in condition.get('required') or ():
        if name not in (condition.get('properties') or {}):
            parts.append(f'when {name} is given')
    return ' ' + ' '.join(parts) if parts else ''


def _describe(error):
    """One or more `(reference, message)` pairs for one jsonschema error."""
    ref = reference(error.absolute_path)
    kind, value = error.validator, error.validator_value
    if kind == 'required':
        match = _REQUIRED.match(error.message)
        missing = [match['name']] if match else \
            [name for name in value if name not in (error.instance or {})]
        return [(_join(ref, name), 'is required' + _condition(error)) for name in missing]
    if kind == 'additionalProperties':
        allowed = set(error.schema.get('properties') or {})
        extra = sorted(k for k in (error.instance or {}) if k not in allowed)
        return [(_join(ref, name), "is not a field Gelato's table documents") for name in extra]
    where = ref or 'body'
    if kind == 'type':
        types = value if isinstance(value, list) else [value]
        return [(where, 'must be ' + ' or '.join(_TYPE_WORDS.get(t, t) for t in types))]
    if kind == 'enum':
        shown = ', '.join(map(str, value))
        return [(where, f'{json.dumps(error.instance)} is not one of {shown}')]
    if kind == 'const':
        return [(where, f'must be {json.dumps(value)}' + _condition(error))]
    if kind == 'maxLength':
        return [(where, f'must be at most {value} characters')]
    if kind == 'minLength':
        return [(where, ('must not be empty' if value == 1 else f'must be at least {value} '
                         'characters') + _condition(error))]
    if kind == 'maxItems':
        return [(where, f'must have at most {value} entries')]
    if kind == 'minItems':
        return [(where, f'must have at least {value} entr{"y" if value == 1 else "ies"}')]
    if kind == 'minimum':
        return [(where, f'must be at least {value}')]
    if kind == 'maximum':
        return [(where, f'must be at most {value}')]
    if kind == 'pattern':
        if value == '^[A-Z]{2}$':
            return [(where, f'{json.dumps(error.instance)} is not a two-letter ISO 3166-1 code')]
        return [(where, f'must match {value}')]
    if kind == 'anyOf' and isinstance(value, list) and all(
            isinstance(v, dict) and list(v) == ['required'] for v in value):
        names = ' or '.join(v['required'][0] for v in value)
        return [(where, f'needs {names}')]
    return [(where, error.message)]


def errors(name, instance):
    """The faults of `instance` against the schema `name`, as `(reference, message)` pairs
    sorted by reference, each once."""
    found = []
    for error in VALIDATORS[name].iter_errors(instance):
        for leaf in _leaves(error):
            leaf._root_schema = SCHEMAS[name]
            leaf._owner = _owner(instance, list(leaf.absolute_path)[:-1])
            for pair in _describe(leaf):
                if pair not in found:
                    found.append(pair)
    return sorted(found, key=lambda pair: _sort_key(pair[0]))


def _leaves(error):
    """The errors to report: the error itself, or the causes of a wrapper."""
    if error.validator in ('allOf', '$ref') and error.context:
        for child in error.context:
            yield from _leaves(child)
        return
    yield error


def _owner(instance, path):
    """The object at `path` in the request (the one holding a failing property)."""
    for part in path:
        try:
            instance = instance[part]
        except (KeyError, IndexError, TypeError):
            return None
    return instance


def _sort_key(ref):
    return [(0, int(p), '') if p.isdigit() else (1, 0, p)
            for p in re.split(r'[.\[\]]+', ref) if p]
