"""``ringctl completion bash|zsh|fish``: click's shell completion script for ringctl.

The script calls ``ringctl`` back with ``_RINGCTL_COMPLETE`` set; click answers from the
command tree (commands, options, choices) without running a command or importing more.
"""

from __future__ import annotations

import click

#: The environment variable the completion scripts set when they call ringctl back.
COMPLETE_VAR = "_RINGCTL_COMPLETE"


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script for SHELL (commands, options and choices complete on Tab).

    \b
    Install it once, then open a new shell:
      bash  ringctl completion bash > ~/.local/share/bash-completion/completions/ringctl
            (or add to ~/.bashrc: eval "$(ringctl completion bash)"; needs bash 4.4+)
      zsh   ringctl completion zsh > "${fpath[1]}/_ringctl"
            (or add to ~/.zshrc, after compinit: eval "$(ringctl completion zsh)")
      fish  ringctl completion fish > ~/.config/fish/completions/ringctl.fish
    """
    from click.shell_completion import BashComplete, FishComplete, ShellComplete, ZshComplete

    script: type[ShellComplete] = {"bash": BashComplete, "zsh": ZshComplete, "fish": FishComplete}[shell]
    root = click.get_current_context().find_root().command
    click.echo(script(root, {}, "ringctl", COMPLETE_VAR).source())
