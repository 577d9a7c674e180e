"""YAML as memgen reads it: config files, --set values, and the config.yaml a results folder stores.

PyYAML's safe loader, with a key given twice refused, and bounds that keep a hostile or mistaken file from
taking the machine before anything is checked: a config file must be a regular file of at most
``MAX_YAML_BYTES`` (``/dev/zero`` or a FIFO would never end), UTF-8 text, and its aliases (``*name``) may not
expand it beyond ``MAX_YAML_VALUES`` values (a "billion laughs" file is a few hundred bytes that expand to 10^9
values: loading it is instant, but anything that walks the result, a validation, a comparison or a JSON dump,
runs out of memory). Every failure is one ``YamlFileError`` line naming the file.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml

from memgen_cli.errors import MemgenError

MAX_YAML_BYTES = 16 * 2**20  # a config is a few kB; a grid written out value by value stays far below
MAX_YAML_VALUES = 1_000_000  # scalars, lists and mappings, with every alias expanded


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: Any, line: int, first_line: int):
        super().__init__(f"{key}: given twice; give each key once")
        self.key, self.line, self.first_line = key, line, first_line


class ExpansionError(yaml.YAMLError):
    """A document whose aliases expand it beyond MAX_YAML_VALUES values, or that contains itself."""


class YamlFileError(MemgenError):
    """One line, ``<path>: <problem>``; ``problem`` alone for a caller that words the line itself."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = path, problem


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error: by default the
    last one silently wins (trials: 5 ... trials: 50 ran 50)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # "<<: *defaults" overrides on purpose
                continue
            key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise DuplicateKeyError(key, line, seen[key])
                seen[key] = line
            except TypeError:  # an unhashable key: the base loader says so
                continue
        return super().construct_mapping(node, deep)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def check_expansion(root: yaml.Node) -> None:
    """Count the values ``root`` holds with its aliases expanded, without expanding them: an aliased node is the
    same node object, so each is counted once and its count reused (time and memory as the file's size)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # entered, not yet counted: the current path from the root
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, counted = stack.pop()
        key = id(node)
        if counted:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > MAX_YAML_VALUES:
                raise ExpansionError(f"its aliases (*name) expand it to more than {MAX_YAML_VALUES:,} values; "
                                     "write the values out")
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise ExpansionError("an alias (*name) refers to a collection that contains it (it would never end)")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))


def load_yaml(text: str) -> Any:
    """YAML as memgen reads it (config files and --set values): PyYAML's safe loader, no duplicate keys, aliases
    that expand to at most MAX_YAML_VALUES values."""
    loader = _UniqueKeyLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except RecursionError:
            raise ExpansionError("nested too deeply") from None
        if root is None:
            return None
        check_expansion(root)
        return loader.construct_document(root)
    finally:
        loader.dispose()


def read_yaml_file(path: Path) -> Any:
    """A YAML file's data; a missing, special, huge, binary or malformed file is one YamlFileError line."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise YamlFileError(path, "no such config file") from None
    except OSError as exc:
        raise YamlFileError(path, f"cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise YamlFileError(path, "is a folder, not a config file")
    if not stat.S_ISREG(info.st_mode):
        raise YamlFileError(path, "not a regular file (a device, pipe or socket), not a config file")
    too_large = f"over {MAX_YAML_BYTES // 2**20} MiB, too large for a config file"
    if info.st_size > MAX_YAML_BYTES:
        raise YamlFileError(path, too_large)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_YAML_BYTES + 1)  # bounded, should it have grown since
        text = raw.decode("utf-8")
    except OSError as exc:
        raise YamlFileError(path, f"cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise YamlFileError(path, f"cannot read: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                                  f"{exc.start}), not a config file") from None
    if len(raw) > MAX_YAML_BYTES:
        raise YamlFileError(path, too_large)
    try:
        return load_yaml(text)
    except DuplicateKeyError as exc:
        raise YamlFileError(path, f"line {exc.line}: {exc.key}: given twice (first at line {exc.first_line}); "
                                  "give each key once") from None
    except ExpansionError as exc:
        raise YamlFileError(path, f"refused: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise YamlFileError(path, f"not valid YAML{where} ({getattr(exc, 'problem', None) or exc})") from None


def read_yaml_mapping(path: Path) -> dict:
    """Read a YAML file that must hold a mapping; every failure is one YamlFileError line."""
    data = read_yaml_file(path)
    if not isinstance(data, dict):
        raise YamlFileError(path, f"must be a YAML mapping of config fields, got {type(data).__name__}")
    return data
