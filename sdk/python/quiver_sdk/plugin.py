"""What an author writes: a `Plugin` with transforms, declared by decorators."""

import inspect

from . import types as T
from .batch import Batch
from .column import Column

KINDS = ("map", "filter", "scalar", "aggregate")


class PluginError(Exception):
    """Fails a whole call. `kind` is one of "invalid-config", "schema-mismatch",
    "invalid-call", "failed"; the host reports the message with the plugin's name."""

    def __init__(self, message, kind="failed"):
        super().__init__(message)
        self.kind = kind


def config_error(message):
    return PluginError(message, "invalid-config")


def schema_error(message):
    return PluginError(message, "schema-mismatch")


class ConfigKey:
    """One configuration key a transform accepts."""

    def __init__(self, name, description, required=False, default=None):
        self.name = name
        self.description = description
        self.required = required
        self.default = default


class Output:
    """What `process` or `finish` returns: a batch, the refused input rows as
    `(row, reason)` pairs, and optionally each output row's input row."""

    __slots__ = ("batch", "rejections", "origin")

    def __init__(self, batch, rejections=(), origin=None):
        self.batch = batch
        self.rejections = list(rejections)
        self.origin = origin


class Transform:
    """A whole-batch transform. Subclass it and decorate the class with
    `@plugin.transform(...)`; one object serves one instance's stream.

    - `__init__(self, config)`: `config` is a dict of the keys declared, with defaults filled in.
    - `bind(self, schema)`: check the input `Schema`, return the output `Schema`.
    - `process(self, batch)`: return a `Batch` or an `Output`.
    - `finish(self)`: return None, a `Batch` or an `Output` (aggregates emit here).
    """

    def __init__(self, config):
        self.config = config

    def bind(self, schema):
        return schema

    def process(self, batch):
        return batch

    def finish(self):
        return None


class TransformSpec:
    """A transform as the plugin describes it, with how to make one."""

    def __init__(self, name, kind, description, config_keys, factory):
        if kind not in KINDS:
            raise ValueError(f"transform kind must be one of {KINDS}, not {kind!r}")
        self.name = name
        self.kind = kind
        self.description = description
        self.config_keys = list(config_keys)
        self.factory = factory

    def open(self, config):
        """A new transform object from the host's `(key, value)` pairs."""
        known = {k.name: k for k in self.config_keys}
        given = dict(config)
        for key in given:
            if key not in known:
                names = ", ".join(known) or "none"
                raise config_error(f"`{self.name}` has no config key `{key}` (it takes: {names})")
        for key in self.config_keys:
            if key.name not in given:
                if key.required:
                    raise config_error(f"`{self.name}` needs config key `{key.name}`: {key.description}")
                if key.default is not None:
                    given[key.name] = key.default
        return self.factory(given)


class Plugin:
    """A plugin: its name, version, description and transforms.

    The module that builds it must be named in the project's `pyproject.toml`
    (`[tool.quiver] module`), and keep the object in a global called `plugin`.
    """

    def __init__(self, name, version, description=""):
        self.name = name
        self.version = version
        self.description = description
        self.transforms = []

    def add(self, spec):
        if any(t.name == spec.name for t in self.transforms):
            raise ValueError(f"plugin `{self.name}` already has a transform `{spec.name}`")
        self.transforms.append(spec)
        return spec

    def find(self, name):
        for spec in self.transforms:
            if spec.name == name:
                return spec
        names = ", ".join(t.name for t in self.transforms)
        raise config_error(f"plugin `{self.name}` has no transform `{name}` (it has: {names})")

    def transform(self, name=None, kind="map", description=None, config=()):
        """Class decorator: offers a `Transform` subclass as a whole-batch transform."""

        def register(cls):
            text = description if description is not None else (inspect.getdoc(cls) or "").split("\n")[0]
            self.add(TransformSpec(name or cls.__name__.lower(), kind, text, config, cls))
            return cls

        return register

    def select(self, name, columns, reject=None, where=None, expect=None, description=""):
        """Offers a transform whose output `columns` (`{name: expression}`, in
        order) are column expressions (`quiver_sdk.compute`: `col("url").str.extract(...)`),
        run by the host's kernels per batch. Rows where a `reject`
        condition (`{reason: condition}`) holds are refused with that reason;
        rows where `where` does not hold are dropped. `expect`
        (`{column: type}`) names input types to insist on. Types are checked
        at bind; only the input columns the expressions name are read."""
        from .select import make_select  # noqa: PLC0415 - select imports this module

        kind = "map" if where is None else "filter"
        self.add(TransformSpec(name, kind, description, (), make_select(name, columns, reject, where, expect)))

    def scalar(self, output, name=None, description=None):
        """Function decorator: offers a typed function of one row as a scalar
        transform that appends (or replaces) column `output`.

        Annotate each parameter and the return with a type of
        `quiver_sdk.types` (`a: int32`). A null argument makes the result null
        without calling the function, unless the parameter is `int32 | None`.
        Return None for a null result; raise to refuse the row, with the
        exception's message as the reason. Config keys `args` (the input
        columns, default: the parameter names) and `output` rename columns.
        """

        def register(function):
            signature = _Signature(function)
            fname = name or function.__name__
            text = description if description is not None else (inspect.getdoc(function) or "").split("\n")[0]
            keys = [
                ConfigKey("args", "comma-separated input columns, one per parameter", False,
                          ",".join(signature.names)),
                ConfigKey("output", "the output column (replaced if present)", False, output),
            ]

            def factory(config):
                return _ScalarTransform(fname, function, signature, config)

            self.add(TransformSpec(fname, "scalar", text, keys, factory))
            return function

        return register


class _Signature:
    """Parameter names and types of a scalar function, from its annotations."""

    def __init__(self, function):
        annotations = dict(getattr(function, "__annotations__", {}))
        for key, value in annotations.items():
            if isinstance(value, str):  # `from __future__ import annotations`
                annotations[key] = eval(value, function.__globals__)  # noqa: S307 - the author's own code
        parameters = list(inspect.signature(function).parameters)
        if not parameters:
            raise TypeError(f"scalar function `{function.__name__}` takes no columns")
        self.names, self.types, self.sees_nulls = [], [], []
        for p in parameters:
            annotation = annotations.get(p)
            nullable = isinstance(annotation, T.Nullable)
            dtype = annotation.type if nullable else annotation
            if not isinstance(dtype, T.DataType):
                raise TypeError(f"annotate parameter `{p}` of `{function.__name__}` with a quiver_sdk.types type")
            self.names.append(p)
            self.types.append(dtype)
            self.sees_nulls.append(nullable)
        result = annotations.get("return")
        result = result.type if isinstance(result, T.Nullable) else result
        if not isinstance(result, T.DataType):
            raise TypeError(f"annotate the return of `{function.__name__}` with a quiver_sdk.types type")
        self.result = result


class _ScalarTransform:
    def __init__(self, name, function, signature, config):
        self.name = name
        self.function = function
        self.signature = signature
        self.args = [a.strip() for a in config["args"].split(",")]
        self.output = config["output"]
        if len(self.args) != len(signature.names):
            raise config_error(
                f"config key `args` names {len(self.args)} columns, `{name}` takes {len(signature.names)} "
                f"({', '.join(signature.names)})"
            )
        if not self.output:
            raise config_error("config key `output` must name a column")
        self.indices = None
        self.replace = None
        self.schema = None

    def bind(self, schema):
        self.indices = []
        for column, expected in zip(self.args, self.signature.types):
            i = schema.index(column)
            if i is None:
                raise schema_error(f"`{self.name}` needs input column `{column}` ({expected}), which is missing")
            found = schema.fields[i].type
            if found != expected:
                raise schema_error(f"`{self.name}` needs input column `{column}` to be {expected}, it is {found}")
            self.indices.append(i)
        fields = list(schema.fields)
        out = T.Field(self.output, self.signature.result, True)
        self.replace = schema.index(self.output)
        if self.replace is None:
            fields.append(out)
        else:
            fields[self.replace] = out
        self.schema = T.Schema(fields, schema.metadata)
        return self.schema

    def process(self, batch):
        args = [batch.columns[i].to_pylist() for i in self.indices]
        rows = batch.num_rows
        # Rows where a parameter that does not see nulls is null: null out, no call.
        masks = [batch.columns[i].valid for i, sees in zip(self.indices, self.signature.sees_nulls) if not sees]
        masks = [m for m in masks if m is not None]
        function = self.function
        rejections = []
        try:
            if not masks:
                results = list(map(function, *args))
            else:
                keep = _all_valid(masks, rows)
                results = [function(*a) if k else None for a, k in zip(zip(*args), keep)]
        except Exception:
            # Some row refused: call again row by row to learn which, with their reasons.
            results = [None] * rows
            keep = _all_valid(masks, rows)
            for row, a in enumerate(zip(*args)):
                if not keep[row]:
                    continue
                try:
                    results[row] = function(*a)
                except Exception as e:  # the author's way of refusing a row
                    rejections.append((row, str(e) or type(e).__name__))
        try:
            values = Column.from_pylist(self.signature.result, results)
        except (OverflowError, TypeError) as e:
            raise PluginError(f"`{self.name}` returned a value that is not {self.signature.result}: {e}") from e
        columns = list(batch.columns)
        if self.replace is None:
            columns.append(values)
        else:
            columns[self.replace] = values
        out = Batch(self.schema, columns, rows)
        if rejections:
            keep = bytearray(b"\x01" * rows)
            for row, _ in rejections:
                keep[row] = 0
            out = out.filter(bytes(keep))
        return Output(out, rejections)

    def finish(self):
        return None


def _all_valid(masks, rows):
    """1 where every mask is 1."""
    if not masks:
        return b"\x01" * rows
    return masks[0] if len(masks) == 1 else bytes(map(min, *masks))
