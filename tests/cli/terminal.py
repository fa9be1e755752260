"""Runs a command in a pseudo-terminal, as a person's shell would: the command leads the
terminal's foreground process group, so a Ctrl-C typed (the byte 0x03 written to this
script's stdin) reaches every process of that group through the terminal's line discipline.
The terminal's output is copied to stdout; the exit code is the command's (128+N for signal N).
Usage: python3 terminal.py COLUMNS ROWS COMMAND [ARG...]"""
import fcntl, os, pty, select, struct, sys, termios

columns, rows, command = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
pid, master = pty.fork()
if pid == 0:
    os.execvp(command[0], command)
fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack('HHHH', rows, columns, 0, 0))
stdin_open = True
while True:
    readable, _, _ = select.select([master] + ([0] if stdin_open else []), [], [])
    if 0 in readable:
        data = os.read(0, 1024)
        if data:
            os.write(master, data)
        else:
            stdin_open = False
    if master in readable:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the last process holding the terminal has gone
            data = b''
        if not data:
            break
        os.write(1, data)
_, status = os.waitpid(pid, 0)
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
