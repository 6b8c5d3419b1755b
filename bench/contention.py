"""How much of the machine other processes took while a benchmark ran, for the reports of
bench/local.sh and bench/local_matrix.sh. Both scripts record /proc/stat's cpu line and
bash's `times` before and after their rounds, in the environment variables STAT_BEFORE,
STAT_AFTER, TIMES_BEFORE and TIMES_AFTER."""


def bash_times(line):
    """Seconds of user + system time from one line of bash `times` ("0m1.234s 0m0.100s")."""
    total = 0.0
    for part in line.split():
        m, sec = part.rstrip("s").split("m")
        total += int(m) * 60 + float(sec)
    return total


def cpu_stat(line):
    v = [int(x) for x in line.split()[1:9]]  # user nice system idle iowait irq softirq steal
    return sum(v[:3]) + sum(v[5:7]), v[7], sum(v)


def measure(env):
    """CPU-seconds the machine had, others used and the VM lost to steal, with their shares
    and whether either passed 5% (contended)."""
    (b0, st0, t0), (b1, st1, t1) = cpu_stat(env["STAT_BEFORE"]), cpu_stat(env["STAT_AFTER"])
    capacity = (t1 - t0) / 100  # USER_HZ = 100
    ours = bash_times(env["TIMES_AFTER"]) - bash_times(env["TIMES_BEFORE"])
    others = max(0.0, (b1 - b0) / 100 - ours)
    steal = (st1 - st0) / 100
    others_share = others / capacity if capacity else 0.0
    steal_share = steal / capacity if capacity else 0.0
    return {
        "capacity": capacity,
        "others": others,
        "others_share": others_share,
        "steal_share": steal_share,
        "contended": others_share > 0.05 or steal_share > 0.05,
    }


def report_line(c):
    """The report's line on other work during the rounds."""
    return (
        f"- Other work during the rounds: other processes used {c['others_share']:.0%} of the "
        f"machine's CPU time ({c['others']:.0f} of {c['capacity']:.0f} CPU-s), steal "
        f"{c['steal_share']:.0%}"
        + (": **contended, these figures are not representative; run again on a quiet machine**"
           if c["contended"] else ": quiet")
    )
