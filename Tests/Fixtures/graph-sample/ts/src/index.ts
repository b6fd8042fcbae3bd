import { x } from "./lib/x";
import * as lib from "@lib/index";
import React from "react";
const s = `import nope from "./nope"`;
export function main(): number { return x + lib.x; }
