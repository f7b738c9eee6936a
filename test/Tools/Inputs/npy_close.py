# Compares two float32 .npy files of any shape, without NumPy: prints the
# shape and "close" when max |a - b| <= tol * max |b|, else the error.
import ast, struct, sys

def read(path):
    raw = open(path, "rb").read()
    hlen = struct.unpack("<H", raw[8:10])[0]
    header = ast.literal_eval(raw[10:10 + hlen].decode())
    assert header["descr"] == "<f4" and not header["fortran_order"], header
    n = 1
    for e in header["shape"]:
        n *= e
    return header["shape"], struct.unpack("<%df" % n, raw[10 + hlen:])

(sa, a), (sb, b) = read(sys.argv[1]), read(sys.argv[2])
tol = float(sys.argv[3])
assert sa == sb, (sa, sb)
err = max([abs(x - y) for x, y in zip(a, b)] + [0])
scale = max([abs(y) for y in b] + [0])
print("shape", sa, "close" if err <= tol * scale else "differ: %g of %g" % (err, scale))
