"""Count the vector instructions of each kernel's main zmm loop in an `objdump -d -C` listing
(floating point, divisions, integer/logic, register moves, memory), to see what a formula costs."""
import re, sys, collections
text = open(sys.argv[1]).read().split("\n")
funcs = {}; cur = None
for line in text:
    m = re.match(r"^[0-9a-f]+ <cnnnative::\(anonymous namespace\)::(\w+)\(", line)
    if m: cur = m.group(1); funcs[cur] = []; continue
    m = re.match(r"^\s+([0-9a-f]+):\s+(\S+)\s*(.*)$", line)
    if m and cur: funcs[cur].append((int(m.group(1), 16), m.group(2), m.group(3)))
only = sys.argv[2].split(",") if len(sys.argv) > 2 else None
for name, ins in funcs.items():
    if only and name not in only: continue
    # main loop: first backward jne whose body uses zmm
    loop = None
    for i, (a, op, args) in enumerate(ins):
        if op.startswith("j") and "<" in args:
            tgt = int(args.split()[0], 16)
            if tgt < a:
                body = [x for x in ins if tgt <= x[0] <= a]
                if any("zmm" in x[2] for x in body): loop = body; break
    if not loop: continue
    c = collections.Counter()
    for a, op, args in loop:
        if "zmm" not in args and "ymm" not in args: continue
        if op.startswith("vmov") and "(" not in args: k = "mov"
        elif op.startswith("vmov") or op.startswith("vbroadcast"): k = "mem"
        elif re.match(r"vp(and|or|xor|add|sub|sl|sr|ternlog|andn)", op) or op in ("vxorps", "vandps", "vandnps", "vorps"): k = "int/logic"
        elif "div" in op: k = "div"
        else: k = "fp"
        c[k] += 1
    fp = c["fp"]
    print(f"{name:24s} fp {fp:3d}  div {c['div']}  int/logic {c['int/logic']:2d}  mov {c['mov']:2d}  mem {c['mem']:2d}")
