# Making vecs.
a = vec.arange(5)                      ### vec([0, 1, 2, 3, 4])
b = vec.arange(2, 11, 4)               ### vec([2, 6, 10])
down = vec.arange(10, 0, -3)           ### vec([10, 7, 4, 1])
none = vec.arange(3, 3)                ### vec([])
long = vec.arange(100)                 ### vec([0, 1, 2, ..., 97, 98, 99], len=100)
f = vec.array([1, 2.5, -0.0])          ### vec([1.0, 2.5, -0.0])
i = vec.array((3, 1, 2))               ### vec([3, 1, 2])
r = vec.array(range(0, 10, 5))         ### vec([0, 5])
m = vec.array([True, False])           ### vec([True, False])
e = vec.array([], dtype="float")       ### vec([], dtype="float")
z = vec.zeros(3)                       ### vec([0, 0, 0])
o = vec.ones(2, dtype="float")         ### vec([1.0, 1.0])
cv = vec.array([2.9, -2.9], dtype="int")   ### vec([2, -2])
bv = vec.array([0, 3], dtype="bool")   ### vec([False, True])
cat = vec.concat([a, b])               ### vec([0, 1, 2, 3, 4, 2, 6, 10])
dt = (a.dtype, f.dtype, m.dtype)       ### ("int", "float", "bool")
big = vec.array([1 << 64])             ### error: element 0: 18446744073709551616 does not fit in 64 bits
mixed = vec.array([True, 1])           ### error: element 1 is an int after bools: give dtype=
strs = vec.array(["a"])                ### error: element 0 is a string: a vec holds ints, floats or bools
step0 = vec.arange(1, 2, 0)            ### error: vec.arange: step argument must not be zero
huge = vec.arange(1000000000000)       ### error: vec.arange: 1000000000000 elements would take 7.3 TiB: the memory limit is
nan = vec.array([float("nan")], dtype="int")   ### error: vec.array: element 0: cannot convert float nan to integer
---
# A vec is a sequence.
v = vec.arange(10)
n = len(v)                             ### 10
first = v[0]                           ### 0
last = v[-1]                           ### 9
out = v[10]                            ### error: vec index 10 out of range \[-10:9\]
sl = v[2:5]                            ### vec([2, 3, 4])
st = v[::-4]                           ### vec([9, 5, 1])
it = [x * x for x in v[:4]]            ### [0, 1, 4, 9]
has = (3 in v, 30 in v, 3.0 in v)      ### (True, False, True)
lst = v[:3].tolist()                   ### [0, 1, 2]
tr = (bool(v), bool(v[:0]))            ### (True, False)
eq = (v[:3] == vec.array([0.0, 1.0, 2.0]), v == v[:9], vec.array([float("nan")]) == vec.array([float("nan")]))   ### (True, False, True)
lt = v < v                             ### error: vec < vec is not defined: vec.lt\(v, w\) compares element by element
key = {v: 1}                           ### error: unhashable type: vec
fl = vec.array([0.5, 1.5])[1]          ### 1.5
bo = vec.array([False, True])[1]       ### True
---
# Arithmetic element by element, with vecs of one length or numbers.
a = vec.arange(1, 6)
add = a + a                            ### vec([2, 4, 6, 8, 10])
sub = 10 - a                           ### vec([9, 8, 7, 6, 5])
mul = a * 3                            ### vec([3, 6, 9, 12, 15])
div = a / 2                            ### vec([0.5, 1.0, 1.5, 2.0, 2.5])
fdiv = a // 2                          ### vec([0, 1, 1, 2, 2])
neg = -a // 2                          ### vec([-1, -1, -2, -2, -3])
mod = -a % 3                           ### vec([2, 1, 0, 2, 1])
fmod = a * 1.5 % -2                    ### vec([-0.5, -1.0, -1.5, 0.0, -0.5])
mix = a + 0.5                          ### vec([1.5, 2.5, 3.5, 4.5, 5.5])
bits = (a & 6, a | 8, a ^ 1, ~a)       ### (vec([0, 2, 2, 4, 4]), vec([9, 10, 11, 12, 13]), vec([0, 3, 2, 5, 4]), vec([-2, -3, -4, -5, -6]))
len2 = a + vec.arange(2)               ### error: vec \+: vecs of 5 and 2 elements
zero = a / (a - 3)                     ### error: vec /: floating-point division by zero at element 2
izero = a % 0                          ### error: vec %: integer modulo by zero at element 0
over = vec.array([9223372036854775807]) + 1    ### error: vec \+: int overflow at element 0: 9223372036854775807 \+ 1 is 9223372036854775808, beyond 64 bits
mover = vec.array([1 << 40]) * (1 << 30)       ### error: vec \*: int overflow at element 0
nover = -vec.array([-9223372036854775808])     ### error: vec -: int overflow at element 0
bigdiv = vec.arange(3) // (1 << 70)    ### vec([0, 0, 0])
boolarith = vec.array([True]) + 1      ### error: vec \+: element 0: unknown binary op: bool \+ int
lstarith = a + [1]                     ### error: unknown binary op: vec \+ list
---
# Comparisons give bool vecs, which select.
v = vec.array([3, -1, 4, 1, 5])
gt = vec.gt(v, 1)                      ### vec([True, False, True, False, True])
sel = v[vec.gt(v, 1)]                  ### vec([3, 4, 5])
both = v[v.gt(0) & v.lt(5)]            ### vec([3, 4, 1])
notm = v[~v.gt(0)]                     ### vec([-1])
count = len(v[v.ge(3)])                ### 3
pick = v[vec.array([4, 0, -1])]        ### vec([5, 3, 5])
exact = vec.gt(vec.array([9007199254740993]), 9007199254740992.0)   ### vec([True])
nan = vec.array([1.0, float("nan")]).lt(float("nan"))   ### vec([True, False])
eqs = (vec.eq(v, 4), vec.ne(v, 4.0))   ### (vec([False, False, True, False, False]), vec([True, True, False, True, True]))
mask = v[vec.array([True])]            ### error: vec index: a mask of 1 bools for a vec of 5 elements
two = vec.lt(1, 2)                     ### error: vec.lt: got int and int, want vecs of one length, or a vec and a number
---
# Whole-vec functions, also methods; sum, min, max and sorted take vecs too.
v = vec.array([3, -1, 4, 1, 5])
s = (sum(v), v.sum(), vec.sum(v), sum(v, 10))   ### (12, 12, 12, 22)
bigsum = sum(vec.array([9223372036854775807, 9223372036854775807, 2]))   ### 18446744073709551616
fsum = sum(vec.array([0.1, 0.2, 0.3]))          ### 0.6000000000000001
mean = (v.mean(), vec.array([0.5, 1.0]).mean()) ### (2.4, 0.75)
ext = (min(v), max(v), v.min(), vec.max(v))     ### (-1, 5, -1, 5)
srt = (sorted(v), sorted(v, reverse=True), v.sorted())   ### ([-1, 1, 3, 4, 5], [5, 4, 3, 1, -1], vec([-1, 1, 3, 4, 5]))
fsrt = sorted(vec.array([0.0, float("nan"), -0.0, -1.0]))   ### [-1.0, 0.0, -0.0, nan]
dot = vec.dot(v, v)                    ### 52
bigdot = vec.dot(vec.array([1 << 62, 1 << 62]), vec.array([1 << 40, 8]))   ### 5070602400949811094134231924736
fdot = v.dot(vec.array([0.5, 0.5, 0.5, 0.5, 0.5]))   ### 6.0
emptymin = min(vec.arange(0))          ### error: min: argument is an empty sequence
emptymean = vec.arange(0).mean()       ### error: vec.mean: the vec is empty
boolsum = sum(vec.array([True]))       ### error: sum: unknown binary op: int \+ bool
---
# Native builtins over ranges and lists give what the generic ones give.
rs = sum(range(100000000))             ### 4999999950000000
rsf = sum(range(3), 0.5)               ### 3.5
rmin = (min(range(5, 0, -2)), max(range(5, 0, -2)))   ### (1, 5)
rsorted = sorted(range(5, 0, -2))      ### [1, 3, 5]
lsum = sum([9223372036854775807, 1, 1 << 70, 2.5])   ### 1.189814992754266e+21
lmin = (min([3, 1, 1]), max([0.0, -0.0]), min([2, 1.5]))   ### (1, 0.0, 1.5)
lsorted = (sorted([2.0, -0.0, 0.0, 1]), sorted((3, 1, 2)))   ### ([-0.0, 0.0, 1, 2.0], [1, 2, 3])
keyed = sorted([3, 1, 2], key=lambda x: -x)   ### [3, 2, 1]
---
# Vecs travel, as typed arrays: to a server and back.
v = vec.arange(6) * 1.5
back = remote v                        ### vec([0.0, 1.5, 3.0, 4.5, 6.0, 7.5])
there = remote (v * 2).sum()           ### 45.0
mask = remote vec.gt(v, 3)             ### vec([False, False, False, True, True, True])
p = pmap(lambda x: x * 2, vec.arange(5))    ### [0, 2, 4, 6, 8]
pc = pmap(lambda c: c * 2, vec.arange(5), chunks=True)   ### vec([0, 2, 4, 6, 8])
pl = pmap(lambda c: [x + 1 for x in c], range(4), chunks=True)   ### [1, 2, 3, 4]
mr = mapreduce(vec.sum, sum, vec.arange(1000001), chunks=True)   ### 500000500000
mrr = mapreduce(lambda r: vec.array(r).sum(), sum, range(1000001), chunks=True)   ### 500000500000
