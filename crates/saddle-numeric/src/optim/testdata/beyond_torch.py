# Independent re-implementations of the beyond-torch optimizers from the papers' update rules,
# in plain Python floats, on the 2-D Rosenbrock function from (-1.5, 2.0).
import math
def rosen(x):
    a, b = x
    r = b - a*a
    return (1-a)**2 + 100*r*r, [-2*(1-a) - 400*a*r, 200*r]
def sign(v): return (v > 0) - (v < 0)
def run(step, n=5, x=(-1.5, 2.0)):
    x = list(x); out = []
    for t in range(1, n+1):
        f, g = rosen(x)
        x = step(x, g, f, t)
        out.append(list(x))
    return out
# Lion (Chen et al. 2023, Alg. 2): c = b1 m + (1-b1) g; x -= lr (sign(c) + wd x); m = b2 m + (1-b2) g
def lion(lr=0.01, b1=0.9, b2=0.99, wd=0.1):
    m = [0.0, 0.0]
    def step(x, g, f, t):
        nx = []
        for i in range(2):
            c = b1*m[i] + (1-b1)*g[i]
            nx.append(x[i]*(1 - lr*wd) - lr*sign(c))
            m[i] = b2*m[i] + (1-b2)*g[i]
        return nx
    return step
# AdaBelief (Zhuang et al. 2020, Alg. 2): s = b2 s + (1-b2)(g-m)^2 + eps; bias-corrected Adam-style step
def adabelief(lr=0.01, b1=0.9, b2=0.999, eps=1e-16):
    m = [0.0, 0.0]; s = [0.0, 0.0]
    def step(x, g, f, t):
        nx = []
        for i in range(2):
            m[i] = b1*m[i] + (1-b1)*g[i]
            s[i] = b2*s[i] + (1-b2)*(g[i]-m[i])**2 + eps
            mh = m[i]/(1-b1**t); sh = s[i]/(1-b2**t)
            nx.append(x[i] - lr*mh/(math.sqrt(sh) + eps))
        return nx
    return step
# Yogi (Zaheer et al. 2018, Alg. 2): v = v - (1-b2) sign(v - g^2) g^2; x -= lr m/(sqrt(v)+eps)
def yogi(lr=0.01, b1=0.9, b2=0.999, eps=1e-3, v0=1e-6):
    m = [0.0, 0.0]; v = [v0, v0]
    def step(x, g, f, t):
        nx = []
        for i in range(2):
            m[i] = b1*m[i] + (1-b1)*g[i]
            v[i] = v[i] - (1-b2)*sign(v[i] - g[i]**2)*g[i]**2
            nx.append(x[i] - lr*m[i]/(math.sqrt(v[i]) + eps))
        return nx
    return step
# LAMB (You et al. 2020, Alg. 2): r = mh/(sqrt(vh)+eps) + wd x; x -= lr ||x||/||r|| r
def lamb(lr=0.01, b1=0.9, b2=0.999, eps=1e-6, wd=0.01):
    m = [0.0, 0.0]; v = [0.0, 0.0]
    def step(x, g, f, t):
        r = []
        for i in range(2):
            m[i] = b1*m[i] + (1-b1)*g[i]
            v[i] = b2*v[i] + (1-b2)*g[i]**2
            r.append((m[i]/(1-b1**t))/(math.sqrt(v[i]/(1-b2**t)) + eps) + wd*x[i])
        xn = math.sqrt(sum(a*a for a in x)); rn = math.sqrt(sum(a*a for a in r))
        tr = xn/rn if xn > 0 and rn > 0 else 1.0
        return [x[i] - lr*tr*r[i] for i in range(2)]
    return step
# Lookahead (Zhang et al. 2019, Alg. 1) around plain SGD: every k steps phi += alpha (x - phi); x = phi
def lookahead(lr=1e-3, k=2, alpha=0.5):
    phi = [None]
    def step(x, g, f, t):
        if phi[0] is None: phi[0] = list(x)
        x = [x[i] - lr*g[i] for i in range(2)]
        if t % k == 0:
            phi[0] = [phi[0][i] + alpha*(x[i] - phi[0][i]) for i in range(2)]
            x = list(phi[0])
        return x
    return step
# Backtracking Armijo (Nocedal & Wright Alg. 3.1): a = lr; while f(x - a g) > f - c1 a |g|^2: a *= rho
evals = []
def armijo(lr=1.0, c1=1e-4, rho=0.5):
    def step(x, g, f, t):
        a = lr; gg = sum(v*v for v in g); n = 0
        while True:
            xt = [x[i] - a*g[i] for i in range(2)]; n += 1
            if rosen(xt)[0] <= f - c1*a*gg:
                evals.append(n); return xt
            a *= rho
    return step
for name, opt in [("lion", lion()), ("adabelief", adabelief()), ("yogi", yogi()), ("lamb", lamb()), ("lookahead", lookahead()), ("armijo", armijo())]:
    print(name, [[repr(v) for v in p] for p in run(opt)])
print("armijo evals", evals)

# Schedule-Free SGD / AdamW (Defazio et al. 2024, Alg. 1), as the authors' *Reference classes.
def sf_sgd(lr=1e-3, beta=0.9, wd=0.01, warmup=2, r=0.0, p=2.0):
    st = {}
    def step(y, g, f, t):
        k = t - 1
        if not st: st.update(z=list(y), x=list(y), ws=0.0, lrmax=-1.0)
        sched = (k+1)/warmup if k < warmup else 1.0
        lrk = lr*sched
        st['lrmax'] = max(lrk, st['lrmax'])
        w = ((k+1)**r) * (st['lrmax']**p); st['ws'] += w; c = w/st['ws']
        ny = []
        for i in range(2):
            gi = g[i] + wd*y[i]
            st['z'][i] = st['z'][i] - lrk*gi
            st['x'][i] = st['x'][i]*(1-c) + c*st['z'][i]
            ny.append(st['x'][i]*beta + (1-beta)*st['z'][i])
        return ny
    return step
def sf_adamw(lr=0.05, b1=0.9, b2=0.999, eps=1e-8, wd=0.01, warmup=2, r=0.0, p=2.0):
    st = {}
    def step(y, g, f, t):
        k = t - 1
        if not st: st.update(z=list(y), x=list(y), v=[0.0, 0.0], ws=0.0, lrmax=-1.0)
        sched = (k+1)/warmup if k < warmup else 1.0
        lrk = lr*sched*math.sqrt(1 - b2**(k+1))
        st['lrmax'] = max(lrk, st['lrmax'])
        w = ((k+1)**r) * (st['lrmax']**p); st['ws'] += w; c = w/st['ws']
        ny = []
        for i in range(2):
            st['z'][i] -= lrk*wd*y[i]
            st['v'][i] = st['v'][i]*b2 + (1-b2)*g[i]*g[i]
            st['z'][i] += -lrk*g[i]/(math.sqrt(st['v'][i]) + eps)
            st['x'][i] = st['x'][i]*(1-c) + c*st['z'][i]
            ny.append(st['x'][i]*b1 + (1-b1)*st['z'][i])
        return ny
    return step
for name, opt in [("schedule_free_sgd", sf_sgd()), ("schedule_free_adamw", sf_adamw())]:
    print(name, [[repr(v) for v in p] for p in run(opt)])
