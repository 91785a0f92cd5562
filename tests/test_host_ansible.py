"""The ansible:// host backend: a host of an Ansible inventory, reached the way Ansible does.

The inventory names this machine with `ansible_connection=local`, so the test reaches no
other machine and resolves no name, yet goes through ansible-inventory and Ansible's own
connection plugin as a fleet would.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from gonogo import host_state
from gonogo.environment_inside import HostPolicy
from gonogo.errors import TargetUnreachableError
from gonogo.probes import hosts


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # ansible-inventory and ansible-playbook live beside this interpreter (the venv's bin).
    bin_dir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    path = tmp_path / "inventory.ini"
    path.write_text(
        f"[web]\nlocalhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    return path


def test_inventory_host_is_judged_both_ways(inventory: Path, tmp_path: Path) -> None:
    key = tmp_path / "site.key"
    key.write_text("not really a key\n")
    key.chmod(0o600)
    policy = HostPolicy.model_validate(
        {
            "name": "web-1",
            "backend": "ansible://localhost",
            "ansible_inventory": str(inventory),
            "files": {str(key): {"mode": "0600"}},
        }
    )
    host = hosts.connect(policy, 60)
    facts = hosts.file(host, str(key))
    assert facts.exists and facts.mode == 0o600
    assert host_state.file_problems(policy, str(key), facts) == []
    key.chmod(0o644)
    problems = host_state.file_problems(policy, str(key), hosts.file(host, str(key)))
    assert len(problems) == 1 and "0644" in problems[0] and "0600" in problems[0], problems


def test_host_missing_from_inventory_is_a_clear_error(inventory: Path) -> None:
    policy = HostPolicy.model_validate(
        {
            "name": "ghost",
            # An IP literal: if Ansible fell back to ssh it would resolve nothing.
            "backend": "ansible://127.0.0.2",
            "ansible_inventory": str(inventory),
        }
    )
    with pytest.raises(TargetUnreachableError, match=r"ghost \(ansible://127.0.0.2\): .*exit 255"):
        hosts.connect(policy, 30)
