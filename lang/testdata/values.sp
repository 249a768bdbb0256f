# Values and builtins, local and shipped to a server.
x = 1 + 2                  ### 3
y = x * 2                  ### 6
big = 1 << 100             ### 1267650600228229401496703205376
rbig = remote big + 1      ### 1267650600228229401496703205377
d = {"b": 1, "a": 2}       ### {"b": 1, "a": 2}
rd = remote d              ### {"b": 1, "a": 2}
r = remote range(0, 1000000000, 3)   ### range(0, 1000000000, 3)
s = sum([1, 2, 3])         ### 6
sr = sum(range(1000000))   ### 499999500000
w = where()                ### "local"
rw = remote where()        ### "server"
m = math.sqrt(16)          ### 4.0
j = json.encode({"a": [1, 2]})   ### "{\"a\":[1,2]}"
t = remote (1, "two", b"3", None, True, 2.5)   ### (1, "two", b"3", None, True, 2.5)
x + y                      ### 9
remote x + y               ### 9
---
# Functions, closures and recursion travel as code with their scope.
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)
f20 = remote fib(20)       ### 6765
def make_adder(n):
    return lambda x: x + n
add5 = make_adder(5)
r = remote add5(10)        ### 15
shipped = remote make_adder(100)
back = shipped(1)          ### 101
k = 7
g = lambda v: v * k
rg = remote g(6)           ### 42
sq = remote pmap(lambda v: v * v, range(10))   ### [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
mr = mapreduce(lambda v: v, sum, range(101))   ### 5050
pw = pmap(lambda v: where(), [1, 2])           ### ["local", "local"]
pargs = pmap(lambda *a: a, range(3))              ### [(0,), (1,), (2,)]
mrf = mapreduce(lambda v: v * 1.5, sum, [1, 2, 3])   ### 9.0
fact = lambda n: 1 if n < 2 else n * fact(n - 1)
rf = remote fact(10)       ### 3628800
---
# A pinned function runs every call on a server, from local cells too.
remote def whereami(x):
    return where() + ":" + str(x)
called = whereami(1)                   ### "server:1"
inlist = [whereami(i) for i in (2, 3)] ### ["server:2", "server:3"]
remote@gpu def g(x):
    return x * 2
gv = g                                 ### <remote@gpu function g>
twice = g(21)                          ### 42
shipped = remote g(5)                  ### 10
kw = g(x=4)                            ### 8
remote def fails(x):
    return 1 // x
boom = fails(0)                        ### error: ^values.sp:\d+:\d+: remote call of fails: values.sp:\d+:14: floored division by zero
