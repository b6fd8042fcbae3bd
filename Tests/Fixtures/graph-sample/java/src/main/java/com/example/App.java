package com.example;

import com.example.util.Strings;
import java.util.List;

public class App {
    public static void main(String[] args) { System.out.println(Strings.upper("x")); }
}
