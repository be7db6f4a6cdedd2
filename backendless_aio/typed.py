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
:func:`changes`, the two helpers an operation needs.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import functools
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
_IMMUTABLE: Final = (str, int, float, bool, type(None), _dt.datetime, tuple, frozenset)
#: The same, looked up by exact type on the hot paths (a subclass' value is copied, to be safe).
_IMMUTABLE_TYPES: Final = frozenset(_IMMUTABLE)
_DATES: Final = frozenset({_dt.datetime, type(None)})


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

    __slots__ = ("_by_instance", "_plan", "_values", "_writable", "cls", "fields", "has_dates",
                 "object_id")

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
        # load's loop reads plain tuples: (property, init name, exact types, a null gives the
        # default, a date field, the field)
        self._plan = tuple((f.prop, f.init, f.exact, f.null_is_default
                            and f.default is not attrs.NOTHING, f.dates, f)
                           for f in self.fields)
        self.object_id = next((f for f in self.fields if f.prop == "objectId"), None)
        self.has_dates = any(_dt.datetime in (f.kind, *typing.get_args(f.kind))
                             for f in self.fields)
        # what each loaded instance was loaded with, by identity (attrs classes compare by
        # value and are unhashable); an entry goes when its instance is collected
        self._by_instance: dict[int, tuple[weakref.ref[Any], tuple[Any, ...]]] = {}

    # -- reading ----------------------------------------------------------------------------
    def load(self, data: Mapping[str, Any]) -> Any:
        """An instance from a user's properties (a wire dict), remembered as loaded."""
        kwargs: dict[str, Any] = {}
        for prop, init, exact, null_is_default, dates, field in self._plan:
            value = data.get(prop, _MISSING)
            if type(value) in exact:  # the common case: nothing to convert
                kwargs[init] = value
                continue
            if value is _MISSING or (value is None and null_is_default):
                continue
            if dates and type(value) is int:  # a date, as milliseconds
                when = from_millis(value)
                if type(when) is _dt.datetime:
                    kwargs[init] = when
                    continue
            if isinstance(value, dict | list):
                value = copy.deepcopy(value)  # the model's own, not the cached user's
            try:
                kwargs[field.init] = field.hook(value, field.kind)
            except Exception as exc:  # cattrs and hooks raise many kinds
                raise self._mismatch(field, type(value).__name__,
                                     f"got {type(value).__name__}: {_short(value)}") from exc
        try:
            instance = self.cls(**kwargs)
        except Exception as exc:  # a field without a value, or the model's own validators
            missing = next((f for f in self.fields if f.init not in kwargs
                            and f.default is attrs.NOTHING), None)
            if missing is not None:
                raise self._mismatch(missing, "missing", "the server sent no value") from exc
            raise self._refused(exc, data) from exc
        self._remember(instance)
        return instance

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
        for value in values:
            if type(value) not in _IMMUTABLE_TYPES:  # a list, a dict...: keep a copy
                return tuple(v if type(v) in _IMMUTABLE_TYPES else copy.deepcopy(v)
                             for v in values)
        return values

    def _remember(self, instance: Any) -> None:
        key = id(instance)
        try:
            ref = weakref.ref(instance, functools.partial(self._forget, key))
        except TypeError:  # no __weakref__ slot: treated as never loaded
            return
        self._by_instance[key] = (ref, self._snapshot(instance))

    def _forget(self, key: int, ref: weakref.ref[Any]) -> None:
        entry = self._by_instance.get(key)
        if entry is not None and entry[0] is ref:
            del self._by_instance[key]

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
        entry = self._by_instance.get(id(instance))
        loaded = entry[1] if entry is not None and entry[0]() is instance else None
        values: tuple[Any, ...] = self._values(instance)
        fields = self.fields
        out: dict[str, Any] = {}
        for index in self._writable:
            value = values[index]
            field = fields[index]
            if loaded is not None:
                if _same(value, loaded[index]):
                    continue
            elif _same(value, field.default_value()):
                continue
            if not isinstance(value, _IMMUTABLE):
                value = converter.unstructure(value)
            out[field.prop] = check_value(field.prop, value)
        return out


def _same(a: Any, b: Any) -> bool:
    return a is b or (type(a) is type(b) and a == b)


@functools.lru_cache(maxsize=512)
def codec(cls: type[Any]) -> Codec:
    """The codec of a model class (built once per class)."""
    return Codec(cls)


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
