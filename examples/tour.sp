# A tour of sperse. Run it with:  go run ./cmd/sperse run examples/tour.sp
#
# Each top-level line defines a cell. Cells run in dependency order, whatever
# their order in the file, and a cell runs again by itself when a cell it uses
# changes.

# A local cell: evaluated by the interpreter in this process.
greeting = "hello from " + where()

# A remote cell: its code and the values it uses travel to a server
# (for now an evaluator in this process that takes the same path).
remote_greeting = remote "hello from " + where()

# Cells use other cells by name.
prices = {"apple": 3, "pear": 4, "fig": 11}
basket = ["apple", "fig", "fig"]
total = sum([prices[item] for item in basket])

# A function cell. Functions travel as code, with the values they capture.
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)

fib_remote = remote [fib(n) for n in range(15)]

# Closures carry what they close over: add_tax carries rate.
def with_tax(rate):
    return lambda amount: amount + amount * rate // 100

add_tax = with_tax(20)
total_with_tax = remote add_tax(total)

# Work split into chunks that run in parallel, then merged in order.
squares = pmap(lambda x: x * x, range(10))
sum_of_squares = mapreduce(lambda x: x * x, sum, range(1000))

# Big integers and ranges travel exactly; a range is never expanded.
big = remote 1 << 100
steps = remote range(0, 1000000000, 3)

# A bare expression is an anonymous cell: _1, _2, ...
total * 2
