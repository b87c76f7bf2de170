// Run-time choice of instruction set.
//
// CPU features are read once (cpuid + xgetbv, so an OS that does not save the AVX-512
// registers is respected). The active ISA starts as the best the CPU supports, or the
// one CNNNATIVE_ISA names; it can be lowered at run time (tests exercise every path),
// never raised above what the CPU has. Kernels look it up on each call, so one
// process can compare paths side by side.
#pragma once
#include <string>
#include <vector>

namespace cnnnative {

enum class Isa { scalar = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);
Isa parse_isa(const std::string& name);   // throws ValueError naming the choices
bool cpu_supports(Isa isa);
Isa best_isa();                           // the best this CPU supports
std::vector<Isa> available_isas();        // every ISA this CPU can run, scalar first
Isa active_isa();                         // what kernels use now
void set_active_isa(Isa isa);             // throws if the CPU lacks it

}  // namespace cnnnative
