"""The ISP's public-facing network as code: read the stack's config, compose the components.

Everything here is composition; what each piece does lives in `components/`. The config is
validated, then every component's files are rendered (`components/stack.py`), and only then is
anything registered: a value that some renderer refuses stops the program before the first
registration, so a failing config registers nothing.
"""

from components.config import load_stack_config
from components.registrations import end_with_one_wait
from components.stack import plan_program, register

cfg = load_stack_config()  # validated before anything is registered
# Every file rendered before anything is registered; no date in any of them (zone serials are set on the host
# at delivery: components/zone_serial.py), so one config registers the same inputs on any day.
plan = plan_program(cfg)
parts = register(plan)

# One wait for every registration before the SDK's own, which rescans every output per completion
# (under Pulumi's unit-test mocks, which take no entrypoint, the test's own wait does it).
end_with_one_wait(parts)
