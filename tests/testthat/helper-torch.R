# PyTorch reference for test-network.R: writes networks, data and weights to
# plain text files, lets torch (float64) compute the log-loss and its
# gradient by autograd, and reads the numbers back.

torch_python <- "/usr/bin/python3"
# Python runs without a sanitizer runtime that tools/sanitize.sh preloads
# into R.
torch_env <- "LD_PRELOAD="

torch_available <- function() {
  if (!file.exists(torch_python)) return(FALSE)
  rc <- suppressWarnings(system2(torch_python, c("-c", shQuote("import torch")),
                                 stdout = FALSE, stderr = FALSE,
                                 env = torch_env))
  identical(as.integer(rc), 0L)
}

# The Python side: one directory per case, each with spec.txt, x.txt,
# y.txt and w1.txt, w2.txt, ...; the answer goes to out.txt as the
# log-loss followed by the gradient blocks, each in column-major order.
torch_script <- c(
  "import os, sys",
  "import numpy as np",
  "import torch",
  "import torch.nn.functional as F",
  "",
  "torch.set_default_dtype(torch.float64)",
  "",
  "def read_array(path):",
  "    with open(path) as f:",
  "        nr, nc = (int(v) for v in f.readline().split())",
  "        vals = np.array([float(v) for v in f.read().split()])",
  "    return vals.reshape((nr, nc), order='F')",
  "",
  "def run_case(d):",
  "    spec = open(os.path.join(d, 'spec.txt')).read().split()",
  "    kind, act, slope, loss = spec[0], spec[1], float(spec[2]), spec[3]",
  "    nout, nblock = int(spec[4]), int(spec[5])",
  "    x = torch.tensor(read_array(os.path.join(d, 'x.txt')))",
  "    y = read_array(os.path.join(d, 'y.txt'))[:, 0]",
  "    ws = [torch.tensor(read_array(os.path.join(d, 'w%d.txt' % (k + 1))),",
  "                       requires_grad=True) for k in range(nblock)]",
  "    if kind == 'diagonal':",
  "        u, v = ws[0][:, 0], ws[1][:, 0]",
  "        scores = (x @ (u * u - v * v)).unsqueeze(1)",
  "    else:",
  "        h = x",
  "        for k, w in enumerate(ws):",
  "            h = h @ w.T",
  "            if k < nblock - 1:",
  "                if act == 'relu':",
  "                    h = torch.relu(h)",
  "                elif act == 'leaky_relu':",
  "                    h = F.leaky_relu(h, negative_slope=slope)",
  "        scores = h",
  "    if nout == 1:",
  "        q = torch.tensor(y) * scores[:, 0]",
  "    else:",
  "        cls = torch.tensor(y.astype(np.int64))",
  "        true = scores.gather(1, cls.unsqueeze(1))[:, 0]",
  "        mask = F.one_hot(cls, nout).bool()",
  "        rival = scores.masked_fill(mask, float('-inf')).max(dim=1).values",
  "        q = true - rival",
  "    if loss == 'exponential':",
  "        terms = -q",
  "    else:",
  "        terms = torch.log(F.softplus(-q))",
  "    log_loss = torch.logsumexp(terms, dim=0)",
  "    log_loss.backward()",
  "    with open(os.path.join(d, 'out.txt'), 'w') as f:",
  "        f.write('%.17g\\n' % log_loss.item())",
  "        for w in ws:",
  "            for g in w.grad.numpy().flatten(order='F'):",
  "                f.write('%.17g\\n' % g)",
  "",
  "root = sys.argv[1]",
  "for case in sorted(os.listdir(root)):",
  "    run_case(os.path.join(root, case))"
)

write_array <- function(a, path) {
  a <- as.matrix(a)
  writeLines(c(paste(nrow(a), ncol(a)), sprintf("%.17g", as.vector(a))),
               path)
}

# cases: a list of list(net, x, y, weights, loss). Returns, per case,
# list(log_loss, gradient) with the gradient flattened block by block.
torch_reference <- function(cases) {
  root <- tempfile("torchref")
  dir.create(file.path(root, "cases"), recursive = TRUE)
  on.exit(unlink(root, recursive = TRUE), add = TRUE)

  dirs <- file.path(root, "cases", sprintf("case%03d", seq_along(cases)))
  for (i in seq_along(cases)) {
    cs <- cases[[i]]
    dir.create(dirs[i])
    net <- cs$net
    writeLines(paste(net$type, net$activation, sprintf("%.17g", net$slope),
                     cs$loss, net$nout, length(cs$weights)),
               file.path(dirs[i], "spec.txt"))
    write_array(cs$x, file.path(dirs[i], "x.txt"))
    yv <- if (net$nout == 1) as.double(cs$y) else as.integer(cs$y) - 1
    write_array(yv, file.path(dirs[i], "y.txt"))
    for (k in seq_along(cs$weights))
      write_array(cs$weights[[k]], file.path(dirs[i], sprintf("w%d.txt", k)))
  }

  script <- file.path(root, "reference.py")
  writeLines(torch_script, script)
  out <- suppressWarnings(system2(torch_python,
                                  c(shQuote(script),
                                    shQuote(file.path(root, "cases"))),
                                  stdout = TRUE, stderr = TRUE,
                                  env = torch_env))
  if (!is.null(attr(out, "status")))
    stop("the torch reference failed:\n", paste(out, collapse = "\n"))

  lapply(dirs, function(d) {
    v <- scan(file.path(d, "out.txt"), quiet = TRUE)
    list(log_loss = v[1], gradient = v[-1])
  })
}
