// Transition header: the general model lives in model/model.h (Gpt2 = Model).
#pragma once
#include "model/model.h"
