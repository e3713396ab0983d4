"""Drives `bpfdiag top` in a private tmux server: start it in a pane, send keys, read the
screen (capture-pane), and check what the shell sees after it exits."""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import bpfdiag_e2e as e2e


def require_tmux():
    if shutil.which("tmux"):
        return
    if os.environ.get("CI"):
        sys.exit("FAIL: tmux is missing (tools/deps.sh test installs it)")
    print("SKIP: needs tmux (tools/deps.sh test installs it)")
    sys.exit(e2e.SKIP)


class Tmux:
    """One pane running `bpfdiag top ARGS` inside sh. Before top starts the pane prints a
    marker and saves `stty -g`; after it exits the pane prints TOP-EXIT=<status> and saves
    `stty -g` again, then idles so the screen can be read."""

    def __init__(self, *args, width=200, height=50, env=None):
        self.dir = tempfile.mkdtemp(prefix="bpfdiag-top-")
        self.sock = os.path.join(self.dir, "tmux.sock")
        env_words = " ".join("%s=%s" % (k, shlex.quote(v)) for k, v in (env or {}).items())
        argv = " ".join(shlex.quote(a) for a in [os.path.abspath(e2e.BIN), "top"] + list(args))
        # The shell survives Ctrl-C (as an interactive one would): only top gets it.
        script = ("trap : INT; printf 'BEFORE-TOP\\n'; stty -g > {d}/before; "
                  "echo $$ > {d}/shell.pid; "
                  "{env} {argv} 2> {d}/stderr; echo TOP-EXIT=$?; stty -g > {d}/after; "
                  "exec sleep 3600").format(d=self.dir, env="env " + env_words if env_words
                                            else "", argv=argv)
        self.tmux("new-session", "-d", "-x", str(width), "-y", str(height), "sh", "-c", script)

    def tmux(self, *args):
        return subprocess.run(["tmux", "-S", self.sock, "-f", "/dev/null"] + list(args),
                              check=True, capture_output=True, text=True).stdout

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "0", *keys)

    def type(self, text):
        self.tmux("send-keys", "-t", "0", "-l", text)

    def screen(self, escapes=False):
        return self.tmux("capture-pane", "-p", "-t", "0", *(["-e"] if escapes else []))

    def stable(self, escapes=False, timeout=10):
        """A capture that holds still for 50 ms (not caught mid-redraw)."""
        deadline = time.time() + timeout
        s = self.screen(escapes)
        while time.time() < deadline:
            time.sleep(0.05)
            again = self.screen(escapes)
            if again == s:
                return s
            s = again
        raise AssertionError("the screen never held still:\n" + s)

    def wait(self, pred, timeout=20, what=None):
        """Waits until pred(screen) is true (a string: appears on screen) on a screen that
        holds still. Returns the screen."""
        check = (lambda s: pred in s) if isinstance(pred, str) else pred
        deadline = time.time() + timeout
        while True:
            s = self.screen()
            try:
                # A capture can land mid-redraw: accept a screen that holds still.
                if check(s):
                    time.sleep(0.05)
                    if self.screen() == s:
                        return s
            except AssertionError:
                pass  # mid-redraw: no table yet

            if time.time() > deadline:
                raise AssertionError("timed out waiting for %s; screen:\n%s\nstderr:\n%s" % (
                    what or repr(pred), s, self.stderr()))
            time.sleep(0.1)

    def resize(self, width, height):
        self.tmux("resize-window", "-t", "0", "-x", str(width), "-y", str(height))

    def top_pid(self):
        """The pid of bpfdiag top: the shell's child."""
        with open(os.path.join(self.dir, "shell.pid")) as f:
            shell = f.read().strip()
        out = subprocess.run(["pgrep", "-P", shell, "-f", "bpfdiag"], capture_output=True,
                             text=True).stdout.split()
        return int(out[0]) if out else None

    def stty(self, which):
        with open(os.path.join(self.dir, which)) as f:
            return f.read().strip()

    def stderr(self):
        try:
            with open(os.path.join(self.dir, "stderr")) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def close(self):
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def table(screen):
    """(title line, [row lines]) of the pods table on a screen: the lines after the column
    title up to the first blank line, the findings panel or the bottom bar."""
    lines = screen.splitlines()
    for i, l in enumerate(lines):
        if re.match(r"^\s*(NODE\s+)?(NAMESPACE\s+)?POD\s", l) and "CPU%" in l:
            rows = []
            for r in lines[i + 1:len(lines) - 1]:  # the last line is the key/prompt bar
                if not r.strip() or r.startswith(" FINDINGS"):
                    break
                rows.append(r)
            return l, rows
    raise AssertionError("no table on screen:\n" + screen)


def cells(title, row):
    """A pod row's cells by column title. Pod rows have one word per column (empty values
    print as "-", names have no spaces); container rows (indented) have no namespace."""
    names = title.split()
    words = row.split()
    if row.startswith(" "):
        raise AssertionError("not a pod row: %r" % row)
    if len(words) != len(names):
        raise AssertionError("%d cells for %d columns: %r" % (len(words), len(names), row))
    return dict(zip(names, words))


def pod_rows(screen):
    """[{column: cell}] of the pod rows on screen, in screen order."""
    title, rows = table(screen)
    return [cells(title, r) for r in rows if not r.startswith(" ")]
