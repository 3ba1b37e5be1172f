# Per-task, per-host timings for bench/fleet.ts. ansible-core has no profile_tasks, and its junit
# callback times every serial batch from the first batch's task start, so this one is ours:
# one line per host result, "<task start> <host done> <host> <status> <task name>" (epoch
# seconds), appended to $TASK_TIMING_FILE.
from __future__ import annotations

import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
    name: task_timing
    type: aggregate
    short_description: per-task, per-host times for bench/fleet.ts
    description: Appends one line per host result to the file named by TASK_TIMING_FILE.
    requirements:
      - enable in configuration
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'task_timing'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._file = os.environ.get('TASK_TIMING_FILE')
        self._started = {}

    def v2_playbook_on_task_start(self, task, is_conditional):
        # Called again for every serial batch: each batch's task is timed from its own start.
        self._started[task._uuid] = time.time()

    def _record(self, result, status):
        if not self._file:
            return
        task = result._task
        start = self._started.get(task._uuid, time.time())
        name = task.get_name().strip().replace('\n', ' ')
        with open(self._file, 'a', encoding='utf-8') as out:
            out.write('%.3f %.3f %s %s %s\n' % (start, time.time(), result._host.name, status, name))

    def v2_runner_on_ok(self, result):
        self._record(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, 'failed')

    def v2_runner_on_skipped(self, result):
        self._record(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._record(result, 'unreachable')
