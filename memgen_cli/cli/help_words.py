"""Help in words (issue 37): Typer 0.29 shows a parameter's Python type (`<bool>`, `<list[Path]>`, `<str>`) and a
required argument as `{results_dirs}`. Every memgen command and group is made with these classes, which give each
parameter without a metavar of its own a readable one: INTEGER, NUMBER, TEXT, PATH, a choice as [a|b|c], nothing
for a flag, and an argument its name in capitals (RESULTS_DIR..., CONFIG)."""

from __future__ import annotations

import re

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

WORDS = {"int": "INTEGER", "float": "NUMBER", "str": "TEXT", "path": "PATH", "file": "FILE", "directory": "FOLDER",
         "Path": "PATH", "bool": "BOOLEAN", "datetime": "DATETIME"}
ARGUMENT_NAMES = {"results_dirs": "RESULTS_DIR"}  # one folder or several: RESULTS_DIR...


def type_word(label: str) -> str:
    """'<int>' -> INTEGER, '<list[Path]>' -> PATH..., '<local|serial|dask>' -> [local|serial|dask]."""
    label = label.strip("<>")
    many = ""
    listed = re.fullmatch(r"list\[(.*)\]", label)
    if listed:
        label, many = listed.group(1), "..."
    label = label.removesuffix(" range")
    if "|" in label:
        return f"[{label}]{many}"
    return WORDS.get(label, label.upper()) + many


class ReadableArgument(TyperArgument):
    def display_type_rich(self, ctx) -> str | None:
        return type_word(self.display_type(ctx)).removesuffix("...")  # the name says how many: RESULTS_DIR...

    def _usage_display_name(self) -> str:
        return self.display_name_raw if self.required else f"[{self.display_name_raw}]"


class ReadableOption(TyperOption):
    def display_type_rich(self, ctx) -> str | None:
        if self.metavar is not None:
            return self.metavar
        if self.is_flag:
            return None  # a flag takes no value
        return type_word(self.display_type(ctx))


def readable(params: list) -> list:
    """The parameters with readable help (their classes swapped for the subclasses above, nothing else changed)."""
    for param in params:
        if type(param) is TyperArgument:
            param.__class__ = ReadableArgument
            if param.metavar is None:
                name = ARGUMENT_NAMES.get(param.name, param.name.upper())
                param.metavar = name + ("..." if param.nargs != 1 else "")
        elif type(param) is TyperOption:
            param.__class__ = ReadableOption
    return params


class ReadableCommand(TyperCommand):
    def get_params(self, ctx):
        return readable(super().get_params(ctx))


class ReadableGroup(TyperGroup):
    def get_params(self, ctx):
        return readable(super().get_params(ctx))
