export { x } from "./x";
