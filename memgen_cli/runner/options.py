"""How a command runs its tasks: the one place of these options' bounds and defaults (the CLI's options are made
from it; a module of its own so that `memgen --help` loads no executor)."""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

MAX_WORKERS = 4096


class ExecutionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workers: Optional[int] = Field(default=None, ge=1, le=MAX_WORKERS,
                                   description="worker processes (default: the CPUs this process may use)")
