"""Typed user models: plain attrs classes whose fields are user properties (``model=``).

A model needs no base class::

    @attrs.define
    class Profile:
        objectId: str | None = None
        phone: str | None = prop("phoneNumber", default=None)   # a renamed property
        birthday: datetime | None = None
        score: int = 0

The one cattrs converter (wire.py) structures each field with strict hooks: a value that does not
fit the field's type raises :class:`~backendless_aio.PropertyTypeMismatch` naming the model, the
property, the expected type and what came. A null for a field whose type does not take None
gives the field's default (every column of the table comes back, unset ones as null).

Each instance built here remembers the values it was loaded with, so that ``changes`` gives
only the fields changed since. For :mod:`users` (and later queries): :func:`from_wire` and
:func:`changes`, the two helpers an operation needs, and :func:`codec_of` for the update path,
which reads a model's answer straight from the parsed body.

A :class:`Codec` writes out, once per class, the two functions that run on every call (the
reader of an answer and the change finder), as attrs writes ``__init__``: no loop over the
fields, no tuple per call, ``__init__`` called positionally where its signature allows. The
rules they follow are the slow paths' (``_convert`` and ``_changed``), which they call for any
value that is not of a type its field takes as it is.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import functools
import inspect
import itertools
import operator
import sys
import types
import typing
import weakref
from collections.abc import Mapping
from typing import Any, Final, TypeVar

import attrs
from attrs import AttrsInstance

from .errors import ConfigurationError, PropertyTypeMismatch
from .values import READ_ONLY, check_value, from_millis
from .wire import converter

__all__ = ["PROPERTY", "changes", "codec", "from_wire", "prop"]

M = TypeVar("M", bound=AttrsInstance)

#: The attrs metadata key that holds a field's property name.
PROPERTY: Final = "backendless_property"

_MISSING: Final[Any] = object()
#: A value _convert leaves to the model's __init__ (a default made from the instance itself).
_OMIT: Final[Any] = object()
#: Below 2**42 milliseconds (the year 2109), ``fromtimestamp(ms / 1000)`` gives exactly
#: ``EPOCH + timedelta(milliseconds=ms)`` (the float is within 0.24 microseconds), in half the time.
_FLOAT_EXACT_MS: Final = 2**42
_IMMUTABLE: Final = (str, int, float, bool, type(None), _dt.datetime, tuple, frozenset)
#: The same, looked up by exact type on the hot paths (a subclass' value is copied, to be safe).
_IMMUTABLE_TYPES: Final = frozenset(_IMMUTABLE)
_DATES: Final = frozenset({_dt.datetime, type(None)})


class _Loaded(weakref.ref):  # type: ignore[type-arg]
    """A weak reference to a loaded instance that carries what it was loaded with."""

    __slots__ = ("key", "values")

    key: int
    values: tuple[Any, ...]


def prop(name: str, **kwargs: Any) -> Any:
    """``attrs.field(...)`` for the property ``name``: a field whose name differs from its
    property's (``phone: str | None = prop("phoneNumber", default=None)``)."""
    if not isinstance(name, str) or not name:
        raise ConfigurationError("a property name must be a non-empty string")
    metadata = {**kwargs.pop("metadata", {}), PROPERTY: name}
    return attrs.field(metadata=metadata, **kwargs)


def _hints(cls: type[Any]) -> dict[str, Any]:
    """The fields' types, resolved; one that cannot be resolved is left as its text (and
    reported for that field only)."""
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):
        module = sys.modules.get(cls.__module__)
        namespace = {**vars(typing), **(vars(module) if module is not None else {})}
        hints: dict[str, Any] = {}
        for field in attrs.fields(cls):
            kind = field.type
            if isinstance(kind, str):
                # what get_type_hints does, one annotation at a time; one that fails stays
                # text, and the caller reports it for that field
                with contextlib.suppress(Exception):
                    kind = eval(kind, namespace)  # noqa: S307
            hints[field.name] = kind
        return hints


def _takes_none(kind: Any) -> bool:
    if kind is Any or kind is None or kind is type(None):
        return True
    origin = typing.get_origin(kind)
    if origin is typing.Union or origin is types.UnionType:
        return type(None) in typing.get_args(kind)
    return False


_PLAIN: Final = (str, int, float, bool)


def _exact(kind: Any) -> tuple[type[Any], ...]:
    """The value types a field of type ``kind`` takes as they are (its hook would return them
    unchanged): ``str`` for ``str``, ``str`` and ``NoneType`` for ``str | None``..."""
    if kind in _PLAIN:
        return (kind,)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = typing.get_args(kind)
        if all(arg in _PLAIN or arg is type(None) for arg in args):
            return tuple(args)
    return ()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _type_name(kind: Any) -> str:
    return kind.__name__ if isinstance(kind, type) else str(kind).replace("typing.", "")


@attrs.frozen(slots=True)
class _Field:
    attr: str  # the attribute's name
    init: str  # its __init__ parameter (attrs alias)
    prop: str  # the property's name
    kind: Any  # the resolved type
    hook: Any  # the converter's structure hook for it
    null_is_default: bool  # a null gives the default (the type does not take None)
    default: Any  # the default value or attrs.Factory (attrs.NOTHING when there is none)
    exact: tuple[type[Any], ...]  # value types taken as they are, without the hook
    dates: bool  # a `datetime` or `datetime | None` field: integer milliseconds read directly

    def default_value(self) -> Any:
        """The default to compare a never-loaded instance's value with (NOTHING: none)."""
        default = self.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            return attrs.NOTHING if default.takes_self else default.factory()
        return default


class Codec:
    """How one model class is read from and written to user properties (cached per class)."""

    __slots__ = ("_build", "_by_instance", "_diff", "_forget_ref", "_plain", "_values",
                 "_writable", "cls", "fields", "object_id")

    def __init__(self, cls: type[Any]) -> None:
        if not (isinstance(cls, type) and attrs.has(cls)):
            raise TypeError(f"model= takes an attrs class, not {cls!r}")
        hints = _hints(cls)
        fields = []
        seen: dict[str, str] = {}
        for field in attrs.fields(cls):
            if not field.init:
                continue
            name = field.metadata.get(PROPERTY, field.name)
            if name in seen:
                raise ConfigurationError(f"{cls.__name__}: fields {seen[name]!r} and "
                                         f"{field.name!r} both map to property {name!r}")
            seen[name] = field.name
            kind = hints.get(field.name, Any)
            default = field.default
            try:
                hook = (lambda value, _: value) if kind is Any else \
                    converter.get_structure_hook(kind)
            except Exception as exc:  # cattrs: no hook for it (an unresolved name, say)
                raise ConfigurationError(f"{cls.__name__}.{field.name}: its type {kind!r} "
                                         f"cannot be read from a property ({exc})") from exc
            dates = kind is _dt.datetime or (
                typing.get_origin(kind) in (typing.Union, types.UnionType)
                and set(typing.get_args(kind)) == _DATES)
            fields.append(_Field(field.name, field.alias or field.name, name, kind, hook,
                                 not _takes_none(kind), default, _exact(kind), dates))
        self.cls = cls
        self.fields: tuple[_Field, ...] = tuple(fields)
        # every field's value at once, as a tuple (operator.attrgetter does it in C)
        names = [f.attr for f in self.fields]
        if len(names) > 1:
            self._values: Any = operator.attrgetter(*names)
        else:
            one = operator.attrgetter(*names) if names else None
            self._values = lambda instance: () if one is None else (one(instance),)
        self._writable = tuple(i for i, f in enumerate(self.fields) if f.prop not in READ_ONLY)
        self._build = self._compile()
        self._diff = self._compile_diff()
        # every field holds str, int, float, bool, datetime or None as loaded: a snapshot
        # needs no copies (a field with an attrs converter could hold anything)
        self._plain = all(f.exact or f.dates for f in self.fields) and not any(
            field.converter is not None for field in attrs.fields(cls))
        self._forget_ref = self._forget  # one bound method for every instance's weak reference
        self.object_id = next((f for f in self.fields if f.prop == "objectId"), None)
        # what each loaded instance was loaded with, by identity (attrs classes compare by
        # value and are unhashable); an entry goes when its instance is collected
        self._by_instance: dict[int, _Loaded] = {}

    # -- reading ----------------------------------------------------------------------------
    def load(self, data: Mapping[str, Any]) -> Any:
        """An instance from a user's properties (a wire dict), remembered as loaded."""
        try:
            instance = self._build(data)
        except PropertyTypeMismatch:
            raise
        except Exception as exc:  # the model's own __init__: validators, converters...
            raise self._refused(exc, data) from exc
        self._remember(instance)
        return instance

    def _compile(self) -> Any:
        """``load``'s body written out for this class, with no loop (as attrs writes
        ``__init__``): one subscript per property (a missing one: every property read with
        ``get``), one ``type()`` test per value of a type its field takes as it is, anything
        else through :meth:`_convert`, and ``__init__`` called with positional arguments
        where its signature allows."""
        fields = self.fields
        namespace: dict[str, Any] = {
            "cls": self.cls, "MISSING": _MISSING, "OMIT": _OMIT, "UTC": _dt.timezone.utc,
            "fromtimestamp": _dt.datetime.fromtimestamp, "FLOAT_EXACT": _FLOAT_EXACT_MS,
            "PROPS": tuple(f.prop for f in fields)}
        names = [f"v{i}" for i in range(len(fields))]
        lines = ["def build(data):"]
        if fields:  # subscripts, not one itemgetter: no tuple to allocate (and collect)
            lines += ["    try:",
                      *(f"        {name} = data[{field.prop!r}]"
                        for field, name in zip(fields, names, strict=True)),
                      "    except KeyError:  # a property the answer lacks",
                      f"        {''.join(f'{name}, ' for name in names)}= "
                      "[data.get(p, MISSING) for p in PROPS]"]
        for i, (field, value) in enumerate(zip(fields, names, strict=True)):
            namespace[f"convert{i}"] = functools.partial(self._convert, field)
            namespace[f"exact{i}"] = field.exact
            if field.dates:  # integer milliseconds, read inline; other forms: _convert
                namespace[f"exact{i}"] = (_dt.datetime,) if field.null_is_default else \
                    (_dt.datetime, type(None))
                lines += [f"    if type({value}) is int and 0 <= {value} < FLOAT_EXACT:",
                          f"        {value} = fromtimestamp({value} / 1000, UTC)",
                          f"    elif type({value}) not in exact{i}:",
                          f"        {value} = convert{i}({value})"]
            elif field.exact:
                lines += [f"    if type({value}) not in exact{i}:",
                          f"        {value} = convert{i}({value})"]
            else:
                lines.append(f"    {value} = convert{i}({value})")
        lines.append(f"    return cls({', '.join(self._arguments(names))})")
        exec("\n".join(lines), namespace)  # noqa: S102 - the text is built from field names
        return namespace["build"]

    def _arguments(self, names: list[str]) -> list[str]:
        """The ``__init__`` call's arguments: positional while the signature's parameters
        follow the fields (a positional call binds fastest), then by keyword; a default made
        from the instance itself (``Factory(takes_self=True)``) only when a value came."""
        try:
            parameters = inspect.signature(self.cls).parameters.values()
        except (TypeError, ValueError):
            parameters = []  # type: ignore[assignment]
        positional = list(itertools.takewhile(
            lambda p: p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD), parameters))
        arguments: list[str] = []
        maybe: list[str] = []
        by_position = True
        for index, (field, name) in enumerate(zip(self.fields, names, strict=True)):
            default = field.default
            if isinstance(default, attrs.Factory) and default.takes_self:  # type: ignore[arg-type]
                maybe.append(f"**({{}} if {name} is OMIT else {{{field.init!r}: {name}}})")
                by_position = False
            elif by_position and index < len(positional) and positional[index].name == field.init:
                arguments.append(name)
            else:
                by_position = False
                arguments.append(f"{field.init}={name}")
        return arguments + maybe

    def _convert(self, field: _Field, value: Any) -> Any:
        """One value that is not of a type its field takes as it is: a missing value or a
        null gives the default, a date may be milliseconds, anything else goes through the
        converter's hook; or PropertyTypeMismatch."""
        if value is _MISSING or (value is None and field.null_is_default):
            default = field.default
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                return _OMIT if default.takes_self else default.factory()
            if default is not attrs.NOTHING:
                return default
            if value is _MISSING:
                raise self._mismatch(field, "missing", "the server sent no value")
        if field.dates and type(value) is int:
            when = from_millis(value)
            if type(when) is _dt.datetime:
                return when
        if isinstance(value, dict | list):
            value = copy.deepcopy(value)  # the model's own, not the cached user's
        try:
            return field.hook(value, field.kind)
        except Exception as exc:  # cattrs and hooks raise many kinds
            raise self._mismatch(field, type(value).__name__,
                                 f"got {type(value).__name__}: {_short(value)}") from exc

    def _refused(self, exc: Exception, data: Mapping[str, Any]) -> PropertyTypeMismatch:
        """The model's __init__ (its validators, converters, __attrs_post_init__) refused the
        server's values: name the property when the error names its attribute."""
        attribute = next((a for a in exc.args if isinstance(a, attrs.Attribute)), None)
        text = str(exc)
        field = next((f for f in self.fields if (f.attr == attribute.name if attribute
                                                  is not None else f"'{f.attr}'" in text)),
                     None)
        if field is None:
            return PropertyTypeMismatch(
                f"{self.cls.__name__}: the model refused the server's values: "
                f"{type(exc).__name__}: {exc}", model=self.cls.__name__, property="",
                expected=self.cls.__name__, got=type(exc).__name__)
        value = data.get(field.prop)
        return self._mismatch(field, type(value).__name__,
                              f"and its validator refused {_short(value)}: {exc.args[0]}")

    def _mismatch(self, field: _Field, got: str, what: str) -> PropertyTypeMismatch:
        expected = _type_name(field.kind)
        return PropertyTypeMismatch(
            f"{self.cls.__name__}.{field.attr}: property {field.prop!r} expects {expected}, "
            f"{what}", model=self.cls.__name__, property=field.prop, expected=expected, got=got)

    def _snapshot(self, instance: Any) -> tuple[Any, ...]:
        values: tuple[Any, ...] = self._values(instance)
        if self._plain:
            return values
        for value in values:
            if type(value) not in _IMMUTABLE_TYPES:  # a list, a dict...: keep a copy
                return tuple(v if type(v) in _IMMUTABLE_TYPES else copy.deepcopy(v)
                             for v in values)
        return values

    def _remember(self, instance: Any) -> None:
        try:
            ref = _Loaded(instance, self._forget_ref)
        except TypeError:  # no __weakref__ slot: treated as never loaded
            return
        ref.key = key = id(instance)
        ref.values = self._snapshot(instance)
        self._by_instance[key] = ref

    def _forget(self, ref: _Loaded) -> None:
        # the instance is gone; its id may already name a newer instance's entry
        if self._by_instance.get(ref.key) is ref:
            del self._by_instance[ref.key]

    # -- writing ----------------------------------------------------------------------------
    def object_id_of(self, instance: Any) -> str | None:
        if self.object_id is None:
            raise ConfigurationError(f"{self.cls.__name__} has no field for the property "
                                     "'objectId': add `objectId: str | None = None`")
        value = getattr(instance, self.object_id.attr)
        return value if isinstance(value, str) else None

    def changes(self, instance: Any) -> dict[str, Any]:
        """The properties changed since ``instance`` was loaded, checked as ``set_property``
        checks them. An instance the library did not load (built by hand, or a copy made
        with ``attrs.evolve``) gives its fields that differ from their defaults. System
        properties are never included."""
        out: dict[str, Any] = {}
        self.diff(instance, out)
        return out

    def diff(self, instance: Any, out: dict[str, Any]) -> bool:
        """:meth:`changes`, put in ``out``; whether a datetime is among them (it needs
        encoding)."""
        entry = self._by_instance.get(id(instance))
        if entry is not None and entry() is instance:
            loaded = entry.values
        else:
            loaded = tuple(field.default_value() for field in self.fields)
        return self._diff(instance, loaded, out)  # type: ignore[no-any-return]

    def _compile_diff(self) -> Any:
        """``diff``'s body written out for this class: one identity test per writable field
        (a value not replaced since it was loaded is the very same object), and
        :meth:`_changed` for a value that was. It puts the changes in ``out`` and says
        whether one is a datetime; it allocates nothing when nothing changed."""
        lines = ["def diff(instance, loaded, out):"]
        if self.fields:
            lines.append(f"    {''.join(f'b{i}, ' for i in range(len(self.fields)))}= loaded")
        lines.append("    dated = False")
        for i in self._writable:
            lines += [f"    value = instance.{self.fields[i].attr}",
                      f"    if value is not b{i} and changed({i}, value, b{i}, out):",
                      "        dated = True"]
        lines.append("    return dated")
        namespace: dict[str, Any] = {"changed": self._changed}
        exec("\n".join(lines), namespace)  # noqa: S102 - the text is built from field names
        return namespace["diff"]

    def _changed(self, index: int, value: Any, before: Any, out: dict[str, Any]) -> bool:
        """Put field ``index``'s value in ``out`` when it differs from what it was (checked as
        ``set_property`` checks it); whether it is a datetime."""
        if _same(value, before):
            return False
        field = self.fields[index]
        if not isinstance(value, _IMMUTABLE):
            value = converter.unstructure(value)
        out[field.prop] = value = check_value(field.prop, value)
        return isinstance(value, _dt.datetime)


def _same(a: Any, b: Any) -> bool:
    return a is b or (type(a) is type(b) and a == b)


@functools.lru_cache(maxsize=512)
def codec(cls: type[Any]) -> Codec:
    """The codec of a model class (built once per class)."""
    return Codec(cls)


def codec_of(instance: object, operation: str) -> Codec:
    """The codec of a model instance's class, or a TypeError naming ``operation``."""
    kind = type(instance)
    if not attrs.has(kind):
        raise TypeError(f"{operation} takes a BackendlessUser or an attrs model instance, "
                        f"not {kind.__name__}")
    return codec(kind)


def from_wire(model: type[M], data: Mapping[str, Any]) -> M:
    """A ``model`` instance from a user's properties as the client reads them (DATETIME
    columns already read as datetimes, system dates as milliseconds), remembered as loaded.
    Raises PropertyTypeMismatch when a value does not fit a field."""
    instance: M = codec(model).load(data)
    return instance


def changes(instance: AttrsInstance) -> tuple[str | None, dict[str, Any]]:
    """The objectId of a model instance and the properties changed since it was loaded."""
    model = codec(type(instance))
    return model.object_id_of(instance), model.changes(instance)
