"""Read an Odoo test log and print one closing line: 'tests: N passed, N failed'.

Odoo reports "F failed, E error(s) of N tests when loading database ..."; errors count as failed.
A run that executed no test, or whose log shows a test that errored outside that count (a failed
module load, say), fails.
"""
import re
import sys


def main(path):
    text = open(path, encoding='utf-8', errors='replace').read()
    reports = re.findall(r'(\d+) failed, (\d+) error\(s\) of (\d+) tests', text)
    load_errors = len(re.findall(r' (?:ERROR|CRITICAL) \S+ odoo\.(?:modules|registry)', text))
    if not reports:
        print("tests: 0 passed, 1 failed  (no test report in the log: the run did not complete)")
        return 1
    failed = sum(int(f) + int(e) for f, e, _n in reports)
    total = sum(int(n) for _f, _e, n in reports)
    failed += load_errors
    if total == 0:
        failed = max(failed, 1)  # A run that executed no test has failed.
    print(f"tests: {total - min(failed, total)} passed, {failed} failed")
    return 0 if failed == 0 and total > 0 else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
