/* Uses only the installed runtime's C ABI: loads an f32 softmax-attention
 * kernel (attnc --emit=so of bench/kernels/mha_f32.attn), runs it on
 * B=1, H=2, P=5, M=7, E=3, F=4 and compares with attention computed here in
 * double. Prints the largest relative error; exit 0 when below 1e-5. */
#include "runtime/attn_runtime.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { B = 1, H = 2, P = 5, M = 7, E = 3, F = 4 };

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: run_kernel KERNEL.so\n");
    return 2;
  }
  attn_kernel *k = NULL;
  if (attn_load(argv[1], &k) != ATTN_OK) {
    fprintf(stderr, "run_kernel: %s\n", attn_last_error());
    return 1;
  }
  static float q[B * H * P * E], kk[B * H * M * E], v[B * H * M * F],
      o[B * H * P * F];
  for (int i = 0; i < B * H * P * E; ++i) q[i] = (float)sin(0.7 * i + 0.1);
  for (int i = 0; i < B * H * M * E; ++i) kk[i] = (float)cos(1.3 * i);
  for (int i = 0; i < B * H * M * F; ++i) v[i] = (float)sin(0.31 * i - 2.0);
  for (int i = 0; i < B * H * P * F; ++i) o[i] = NAN; /* poisoned */
  int64_t qs[] = {B, H, P, E}, ks[] = {B, H, M, E}, vs[] = {B, H, M, F},
          os[] = {B, H, P, F};
  attn_tensor t[4] = {{q, ATTN_F32, 4, qs, NULL, ATTN_DEVICE_CPU},
                      {kk, ATTN_F32, 4, ks, NULL, ATTN_DEVICE_CPU},
                      {v, ATTN_F32, 4, vs, NULL, ATTN_DEVICE_CPU},
                      {o, ATTN_F32, 4, os, NULL, ATTN_DEVICE_CPU}};
  if (attn_run(k, t, 4, NULL, 0) != ATTN_OK) {
    fprintf(stderr, "run_kernel: %s\n", attn_last_error());
    return 1;
  }
  double worst = 0, scale = 0;
  for (int h = 0; h < H; ++h)
    for (int p = 0; p < P; ++p) {
      double s[M], max = -INFINITY, sum = 0;
      for (int m = 0; m < M; ++m) {
        s[m] = 0;
        for (int e = 0; e < E; ++e)
          s[m] += q[(h * P + p) * E + e] * (double)kk[(h * M + m) * E + e];
        s[m] /= sqrt((double)E);
        max = s[m] > max ? s[m] : max;
      }
      for (int m = 0; m < M; ++m) sum += s[m] = exp(s[m] - max);
      for (int f = 0; f < F; ++f) {
        double want = 0;
        for (int m = 0; m < M; ++m) want += s[m] * v[(h * M + m) * F + f];
        want /= sum;
        double got = o[(h * P + p) * F + f];
        double d = isnan(got) ? INFINITY : fabs(got - want);
        worst = d > worst ? d : worst;
        scale = fabs(want) > scale ? fabs(want) : scale;
      }
    }
  printf("kernel %s (%s): max relative error %.3g\n", attn_kernel_name(k),
         attn_kernel_target(k), worst / scale);
  attn_unload(k);
  return worst / scale < 1e-5 ? 0 : 1;
}
