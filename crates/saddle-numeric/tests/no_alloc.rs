//! Evaluating a compiled expression (value, gradient, Hessian-vector product) must not
//! allocate: a counting global allocator checks it on this thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use saddle_numeric::expr::ExpressionProblem;
use saddle_numeric::Objective;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns how many allocations it made on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    COUNT.with(Cell::get)
}

#[test]
fn evaluating_an_expression_allocates_nothing() {
    // The counter itself works.
    assert_eq!(allocations(|| drop(std::hint::black_box(vec![0u8; 16]))), 1);
    let cases = [
        ("(1 - x)^2 + 100*(y - x^2)^2 + max(x, y) + relu(x*y)", 0),
        ("sum(i=0..n-2, 100*(x[i+1] - x[i]^2)^2 + (1 - x[i])^2)", 300),
        (
            "10*n + sum(i=0..n-1, x[i]^2 - 10*cos(2*pi*x[i])) + sum(i=0..n-1, sum(j=0..i, x[j]^2))",
            40,
        ),
    ];
    for (src, n) in cases {
        let mut p = ExpressionProblem::new(src);
        if n > 0 {
            p.dims.insert("x".into(), n);
        }
        let mut f = p.compile().unwrap().objective();
        let dim = f.dim();
        let x: Vec<f64> = (0..dim).map(|i| (i as f64 * 0.37).sin()).collect();
        let v: Vec<f64> = (0..dim).map(|i| (i as f64 * 0.11).cos()).collect();
        let mut g = vec![0.0; dim];
        let mut hv = vec![0.0; dim];
        // The first Hessian-vector product allocates its dual-number buffers once.
        f.hessian_vector_product(&x, &v, &mut hv);
        let count = allocations(|| {
            for _ in 0..10 {
                f.value(&x);
                f.value_and_grad(&x, &mut g);
                f.hessian_vector_product(&x, &v, &mut hv);
            }
        });
        assert_eq!(count, 0, "{src}");
    }
}
