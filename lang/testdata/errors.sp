# Errors name the file, line and column, and the other cells still run.
a = 1 +                    ### error: ^errors.sp:2:\d+: got end of file, want primary expression$
b = 2                      ### 2
c = nope + 1               ### error: ^errors.sp:4:5: undefined: nope$
d = 1 // 0                 ### error: ^errors.sp:5:7: floored division by zero$
e = [1, 2][5]              ### error: ^errors.sp:6:11: list index 5 out of range
x, y = 1, 2                ### error: ^errors.sp:7:6: a cell defines one name
for i in []: pass          ### error: ^errors.sp:8:1: .*not a for statement
f = 1; g = 2               ### error: ^errors.sp:9:8: one cell per line
h = remote@ 1              ### error: ^errors.sp:10:12: remote@ needs a server name or tag
i = remote@a;b 1           ### error: ^errors.sp:11:12: bad selector
1 +                        ### error: ^errors.sp:12:\d+: got end of file
---
# A runtime error in shipped code keeps the position of the original text.
def div(a, b):
    return a // b
q = remote div(1, 0)       ### error: ^errors.sp:16:14: floored division by zero$
r = remote nope2()         ### error: ^errors.sp:18:12: undefined: nope2$
---
# What cannot travel fails with a clear error.
m = math
n = remote m.sqrt(4)       ### 2.0
app = [].append
o = remote app             ### error: cannot encode builtin_function_or_method value <built-in method append of list value>
mr_sum = mapreduce(lambda v: "a", sum, range(3))  ### error: sum: unknown binary op: int \+ string
