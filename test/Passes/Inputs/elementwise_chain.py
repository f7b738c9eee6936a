# Writes a kernel of N chained elementwise statements (issue 18): each reads
# the one before it and the input X, so attn-fuse-elementwise folds the whole
# chain into the output's statement.
import sys

n = int(sys.argv[1])
ops = ["{t} * 0.5 + X[p,f]", "{t} - 0.25 * X[p,f]", "max({t}, X[p,f])",
       "{t} * X[p,f] + 1.0"]
print("kernel chain(X: f32[P, F]) -> (O: f32[P, F]) {")
print("  T0[p,f] = X[p,f] * 0.5")
for i in range(1, n):
    print(f"  T{i}[p,f] = " + ops[i % len(ops)].format(t=f"T{i - 1}[p,f]"))
print(f"  O[p,f] = T{n - 1}[p,f] * 2.0")
print("}")
