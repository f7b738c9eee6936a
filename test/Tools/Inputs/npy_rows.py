# Prints the shape and rows of a 2-D float32 .npy file, without NumPy.
import ast, struct, sys
raw = open(sys.argv[1], "rb").read()
hlen = struct.unpack("<H", raw[8:10])[0]
header = ast.literal_eval(raw[10:10 + hlen].decode())
assert header["descr"] == "<f4" and not header["fortran_order"], header
rows, cols = header["shape"]
vals = struct.unpack("<%df" % (rows * cols), raw[10 + hlen:])
print("shape", (rows, cols))
for r in range(rows):
    print("row %d:" % r, " ".join("%g" % v for v in vals[r * cols:(r + 1) * cols]))
