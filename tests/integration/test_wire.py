"""Request ids across a fork."""

import os

from testbed import wire


def test_a_forked_child_does_not_repeat_its_parents_request_ids():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, then gone without running the parent's cleanup
        os.write(write, wire.new_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert len(child) == 32 and child[:16] != wire.new_id()[:16]
